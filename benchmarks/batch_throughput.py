"""Speed of `ecglm batch` against a naive loop; cold start; memory for 10,000 records.

Prints, from one run on this machine:
1. records/s of `ecglm batch` on a folder of records (default: PTB-XL `records100`), end to end
   (process start, model load, reading, inference, writing), with and without measurements;
2. records/s of a naive loop in one process: `wfdb.rdrecord` + one forward pass per record (the
   same windows the batch scores), over the first `--naive-limit` records; and the ratio;
3. wall time of a cold `ecglm classify ONE.hea` next to `python -c "import torch"` (best of 3);
4. peak resident memory of `ecglm batch` over a list of 10,000 records (the folder's records
   repeated), summed over the main process and its workers.

    python benchmarks/batch_throughput.py ../shared/data/ptbxl/records100 [--model BUNDLE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
ECGLM = [sys.executable, "-m", "ecglm_cli"]


def timed(cmd: list[str], sample_rss: bool = False) -> tuple[float, int, float]:
    """Wall seconds of `cmd`, the peak sum of RSS over it and its workers (sampled every 0.1 s;
    pages shared between them count once per process, so this errs high), and its CPU seconds
    (user + system, workers included: less sensitive than wall time to a busy machine)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_tree = 0
    while proc.poll() is None:
        if sample_rss:
            peak_tree = max(peak_tree, tree_rss(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, peak_tree, cpu


def tree_rss(pid: int) -> int:
    """Sum of RSS over `pid` and its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    family, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(rss.get(p, 0) for p in family)


def naive_loop(headers: list[Path], model: str, threads: int | None = None) -> float:
    """Records/s of rdrecord + one forward pass per record, in this process (torch's default
    thread count unless `threads` is given)."""
    import numpy as np
    import torch
    import wfdb

    if threads:
        torch.set_num_threads(threads)
    from ecglm_cli.cache import resolve
    from ecglm_cli.models.bundle import load_bundle

    bundle = load_bundle(resolve(model, kind="ecg-bundle"))
    config = bundle.config
    start = time.perf_counter()
    with torch.no_grad():
        for header in headers:
            rec = wfdb.rdrecord(str(header.with_suffix("")))
            x = np.nan_to_num(rec.p_signal.T.astype(np.float32))
            x -= np.median(x, axis=1, keepdims=True)
            starts = list(range(0, x.shape[1] - config.window + 1, config.stride))
            if starts[-1] + config.window < x.shape[1]:
                starts.append(x.shape[1] - config.window)
            windows = torch.from_numpy(np.stack([x[:, s:s + config.window] for s in starts]))
            mask = torch.ones(len(starts), 12, dtype=torch.bool)
            logits = bundle.model(windows, mask)
            probs = {space: torch.sigmoid(v).mean(0) for space, v in logits.items()}
    assert probs
    return len(headers) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, help="folder of WFDB records (PTB-XL records100)")
    parser.add_argument("--model", default="ecglm-base")
    parser.add_argument("--naive-limit", type=int, default=400)
    parser.add_argument("--rss-records", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    headers = sorted(args.records.rglob("*.hea"))
    workers = ["--workers", str(args.workers)] if args.workers else []
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "o.jsonl"
        batch = [*ECGLM, "batch", str(args.records), "--out", str(out), "--quiet",
                 "--model", args.model, *workers]
        naive = naive_loop(headers[: args.naive_limit], args.model)
        print(f"naive loop (wfdb.rdrecord + one forward per record, {args.naive_limit} records, "
              f"torch default threads): {naive:.1f} records/s")
        naive_1 = naive_loop(headers[: args.naive_limit], args.model, threads=1)
        print(f"naive loop, torch.set_num_threads(1): {naive_1:.1f} records/s")
        wall, _, cpu = timed([*batch, "--no-measurements"])
        batch_rate = len(headers) / wall
        print(f"ecglm batch --no-measurements: {len(headers)} records in {wall:.1f} s = "
              f"{batch_rate:.1f} records/s (end to end, including start-up); "
              f"{1000 * cpu / len(headers):.1f} ms CPU per record")
        wall_m, _, cpu_m = timed(batch)
        print(f"ecglm batch (with measurements): {len(headers) / wall_m:.1f} records/s; "
              f"{1000 * cpu_m / len(headers):.1f} ms CPU per record")
        print(f"ratio batch / naive: {batch_rate / naive:.1f}x "
              f"({batch_rate / naive_1:.1f}x against the single-thread naive loop)")

        torch_runs = [timed([sys.executable, "-c", "import torch"]) for _ in range(3)]
        one = [*ECGLM, "classify", str(headers[0]), "--model", args.model, "--format", "json"]
        cold_runs = [timed(one) for _ in range(3)]
        torch_s, cold_s = min(r[0] for r in torch_runs), min(r[0] for r in cold_runs)
        torch_cpu, cold_cpu = min(r[2] for r in torch_runs), min(r[2] for r in cold_runs)
        print(f"cold `ecglm classify one.hea`: {cold_s:.2f} s wall, {cold_cpu:.2f} s CPU; "
              f"`python -c 'import torch'`: {torch_s:.2f} s wall, {torch_cpu:.2f} s CPU; "
              f"difference {cold_s - torch_s:.2f} s wall, {cold_cpu - torch_cpu:.2f} s CPU")

        listing = Path(tmp) / "list.txt"
        with open(listing, "w") as fh:
            for i in range(args.rss_records):
                fh.write(f"{headers[i % len(headers)]}\n")
        wall, tree, _ = timed(
            [*ECGLM, "batch", str(listing), "--out", str(out), "--quiet", "--model", args.model,
             *workers], sample_rss=True)
        print(f"batch of {args.rss_records} records (with measurements): {wall:.0f} s, "
              f"peak RSS {tree / 2**20:.0f} MiB (process + workers)")


if __name__ == "__main__":
    main()
