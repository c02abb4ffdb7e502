"""Hostile folders for `batch`: a FIFO named like a header must not block the walk, and a
multi-segment header that lists itself must be scored as a failed record, not vanish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, cli_env
from test_classify import bundle, write_wfdb  # noqa: F401  (the session bundle fixture)

from ecglm_cli.cli.main import cli
from ecglm_cli.pipeline.batch_inputs import discover
from ecglm_cli.signal.synthetic import synthetic_ecg

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _discover_within(folder: Path, fifo: Path, seconds: float = 10) -> list[str]:
    """Ids discover() gives, failing (not hanging) if it blocks on `fifo`."""
    found: list[str] = []
    walker = threading.Thread(target=lambda: found.extend(j.id for j in discover(str(folder))),
                              daemon=True)
    walker.start()
    walker.join(seconds)
    blocked = walker.is_alive()
    if blocked:  # a writer that closes at once lets the blocked open return
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        walker.join(seconds)
    assert not blocked, "discover() blocked opening a FIFO"
    return found


@needs_fifo
def test_fifo_named_like_a_header_is_a_job_not_a_hang(tmp_path):
    write_wfdb(tmp_path, "good", synthetic_ecg(fs=100, seconds=5, seed=1), 100)
    os.mkfifo(tmp_path / "z.hea")  # no z.dat beside it: discovery would read it
    assert _discover_within(tmp_path, tmp_path / "z.hea") == ["good", "z"]


@needs_fifo
def test_fifo_header_is_an_error_row_in_batch(tmp_path, bundle):  # noqa: F811
    folder = tmp_path / "in"
    write_wfdb(folder, "good", synthetic_ecg(fs=100, seconds=5, seed=1), 100)
    os.mkfifo(folder / "z.hea")
    out = tmp_path / "o.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "batch", str(folder), "--out", str(out),
         "--model", str(bundle), "--workers", "1", "--quiet"],
        env=cli_env(), cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 3, result.stderr
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert "probabilities" in rows["good"]
    assert rows["z"]["error"].endswith("z.hea: header z.hea is not a regular file")
    assert "scored 1, failed 1" in result.stderr and "Traceback" not in result.stderr


def _write_self_listing(folder: Path) -> Path:
    """A master header whose segment list names itself (and no signal file of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    header = folder / "r.hea"
    header.write_text("r/2 2 500 10000\nr 5000\nr 5000\n")
    return header


def test_header_listing_itself_is_still_a_job(tmp_path):
    _write_self_listing(tmp_path / "self")
    assert [job.id for job in discover(str(tmp_path / "self"))] == ["r"]
    loop = tmp_path / "loop"  # two masters that list each other: both are records
    loop.mkdir()
    (loop / "a.hea").write_text("a/1 2 500 5000\nb 5000\n")
    (loop / "b.hea").write_text("b/1 2 500 5000\na 5000\n")
    assert [job.id for job in discover(str(loop))] == ["a", "b"]


def test_header_listing_itself_is_reported_as_failed(tmp_path, bundle):  # noqa: F811
    header = _write_self_listing(tmp_path / "self")
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(cli, ["batch", str(header.parent), "--out", str(out), "--model",
                                      str(bundle), "--workers", "1", "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 3, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["r"] and rows[0]["error"]
    assert "\n" not in rows[0]["error"]
    assert "scored 0, failed 1" in result.stderr


def test_records_differing_only_in_suffix_get_distinct_ids(tmp_path):
    """`rec.hea` and `rec.edf` in one folder both got the id `rec`, so `--resume` skipped one."""
    from ecglm_cli.pipeline.batch_inputs import discover

    write_wfdb(tmp_path, "rec", synthetic_ecg(fs=100, seconds=5, seed=1), 100)
    write_wfdb(tmp_path, "other", synthetic_ecg(fs=100, seconds=5, seed=2), 100)
    (tmp_path / "rec.edf").write_bytes(b"")
    ids = sorted(job.id for job in discover(str(tmp_path)))
    assert ids == ["other", "rec.edf", "rec.hea"]
    listed = tmp_path / "list.txt"
    listed.write_text(f"{tmp_path / 'rec.hea'}\n{tmp_path / 'rec.edf'}\n{tmp_path / 'other.hea'}\n")
    assert [job.id for job in discover(str(listed))] == [
        f"{tmp_path}/rec.hea", f"{tmp_path}/rec.edf", f"{tmp_path}/other"]
