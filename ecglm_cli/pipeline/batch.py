"""`batch`: score many records with bounded memory, writing each row as soon as it is known.

Worker processes read and prepare records (`prepare_record`: file I/O, resampling, quality
checks); the main process runs the model on batches of prepared records and writes rows in the
order records complete. At most `max_in_flight` records are being read or waiting for the model at
any time, so memory does not grow with the number of records.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ecglm_cli.errors import RecordError
from ecglm_cli.pipeline.batch_inputs import Job
from ecglm_cli.pipeline.classify import (
    InputSpec,
    PreparedRecord,
    ReadOptions,
    Scorer,
    csv_row,
    prepare_record,
)
from ecglm_cli.pipeline.reader_pool import ReaderPool
from ecglm_cli.pipeline.rowfile import RowFile, one_line

IDLE_FLUSH_S = 0.05  # score a partial batch when no prepared record arrives for this long


@dataclass
class Summary:
    scored: int = 0
    failed: int = 0
    skipped: int = 0
    elapsed_s: float = 0.0

    def line(self) -> str:
        rate = self.scored / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (f"ecglm batch: scored {self.scored}, failed {self.failed}, skipped {self.skipped} "
                f"(already in the output), elapsed {self.elapsed_s:.1f} s ({rate:.1f} records/s)")


# Set once per worker process by `_init_worker`.
_WORKER: dict[str, Any] = {}


def _init_worker(spec: InputSpec, options: ReadOptions) -> None:
    _die_with_parent()
    _WORKER["spec"], _WORKER["options"] = spec, options


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when `batch` itself is killed (even by SIGKILL),
    so no orphaned reader is left waiting on a queue nobody feeds."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _prepare_job(job: Job) -> PreparedRecord | dict[str, str]:
    """Runs in a worker: a prepared record, or the error row for a record that failed."""
    try:
        return prepare_record(job.path, job.id, _WORKER["spec"], _WORKER["options"])
    except RecordError as exc:
        return {"id": job.id, "path": job.path, "error": one_line(str(exc))}


def _lost(job: Job) -> dict[str, str]:
    """The error row of a record whose reader process died (killed, or out of memory)."""
    return {"id": job.id, "path": job.path,
            "error": f"{job.path}: its reader process died while reading it (killed, or out "
                     "of memory)"}


def pool_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe and cheap (Linux: workers start in milliseconds and inherit the
    imported readers); the platform default elsewhere."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def run_batch(
    jobs: Iterable[Job],
    out: RowFile,
    scorer: Scorer,
    options: ReadOptions,
    workers: int,
    on_row: Callable[[], None] = lambda: None,
) -> Summary:
    """Score `jobs` into `out`. Workers only read and prepare (numpy, never torch), so forking
    them from a process that has imported torch is safe."""
    summary = Summary()
    start = time.monotonic()
    pool = ReaderPool(pool_context(), workers, _init_worker, (scorer.spec, options), _prepare_job)
    try:
        _set_torch_threads(workers)
        pending: list[PreparedRecord] = []

        def flush() -> None:
            for result in scorer.score(pending):
                out.write(csv_row(result) if out.fmt == "csv" else result)
                summary.scored += 1
                on_row()
            pending.clear()

        prepared = pool.imap_unordered(jobs, max(4 * scorer.batch_size, 8 * workers),
                                       IDLE_FLUSH_S, _lost)
        for item in prepared:
            if item is None:  # nothing arrived for a moment: do not hold finished records back
                if pending:
                    flush()
            elif isinstance(item, PreparedRecord):
                pending.append(item)
                if len(pending) >= scorer.batch_size:
                    flush()
            else:
                out.write(item)
                summary.failed += 1
                on_row()
        flush()
    finally:
        pool.close()
    summary.elapsed_s = time.monotonic() - start
    return summary


def _set_torch_threads(workers: int) -> None:
    """Inference shares the cores with the reader processes: leave them some, but at least two
    threads (with OMP_WAIT_POLICY=PASSIVE, set by the command, idle threads do not spin)."""
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(min(2, cores), cores - workers // 2))
