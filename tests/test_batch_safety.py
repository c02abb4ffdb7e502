"""`ecglm batch` never loses an earlier output: a run that stops before its first row (a mistyped
INPUT, a record given as INPUT, no records found, Ctrl-C while listing) leaves OUT as it was, and
`--resume` refuses a file of the other format instead of mixing the two. Through the real CLI:
CliRunner, and subprocesses for the exact error line and for Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import cli_env
from test_classify import bundle, write_wfdb  # noqa: F401  (the session bundle fixture)

from ecglm_cli.cli.main import cli
from ecglm_cli.pipeline.batch_inputs import shard_of
from ecglm_cli.signal.synthetic import synthetic_ecg

EARLIER = '{"id":"a","path":"a.hea","error":"a.hea: kept"}\n' * 50


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """A folder of 3 synthetic 100 Hz records."""
    root = tmp_path_factory.mktemp("records")
    for i in range(3):
        write_wfdb(root, f"rec{i}", synthetic_ecg(fs=100, seed=i), 100)
    return root


def batch(*args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(cli, ["batch", *args, "--quiet"], input=stdin)


def test_mistyped_input_is_one_error_line_and_the_output_is_kept(bundle, tmp_path):  # noqa: F811
    out = tmp_path / "keep.jsonl"
    out.write_text(EARLIER)
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "batch", "no_such_dir", "--out", str(out), "--model",
         str(bundle)], capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert result.returncode == 1
    assert result.stderr == "ecglm: error: no_such_dir: no such directory or list file\n"
    assert out.read_text() == EARLIER


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_ctrl_c_while_listing_keeps_the_output(bundle, tmp_path):  # noqa: F811
    out = tmp_path / "keep.jsonl"
    out.write_text(EARLIER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecglm_cli", "batch", "-", "--out", str(out), "--model",
         str(bundle), "--quiet"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:  # the list on stdin never ends: batch opens OUT, then waits for paths
        deadline = time.monotonic() + 120
        while not _has_open(proc.pid, out):
            assert proc.poll() is None and time.monotonic() < deadline, "OUT was never opened"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.communicate()
    assert out.read_text() == EARLIER


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # an fd closed while looking
        return False


@pytest.mark.parametrize("case", ["missing", "record", "empty_dir", "glob", "empty_stdin"])
def test_bad_input_leaves_an_existing_output_untouched(case, records, bundle, tmp_path):  # noqa: F811
    (tmp_path / "empty").mkdir()
    source, extra = {
        "missing": (str(tmp_path / "no_such_dir"), []),
        "record": (str(records / "rec0.hea"), []),
        "empty_dir": (str(tmp_path / "empty"), []),
        "glob": (str(records), ["--glob", "*.hae"]),
        "empty_stdin": ("-", []),
    }[case]
    out = tmp_path / "keep.jsonl"
    out.write_text(EARLIER)
    result = batch(source, "--out", str(out), "--model", str(bundle), *extra)
    assert result.exit_code == 1, result.output
    assert out.read_text() == EARLIER
    assert str(result.exception).startswith("stdin: " if source == "-" else f"{source}: ")


def test_bad_input_creates_no_output(bundle, tmp_path):  # noqa: F811
    out = tmp_path / "new.csv"
    result = batch(str(tmp_path / "no_such_dir"), "--out", str(out), "--model", str(bundle))
    assert result.exit_code == 1 and "no such directory" in str(result.exception)
    assert not out.exists()


def test_a_finished_run_still_replaces_the_output(records, bundle, tmp_path):  # noqa: F811
    # documented: without --resume, OUT is overwritten, also by a shard that holds no record
    out = tmp_path / "o.jsonl"
    out.write_text(EARLIER)
    result = batch(str(records), "--out", str(out), "--model", str(bundle))
    assert result.exit_code == 0, result.output
    assert sorted(line[:16] for line in out.read_text().splitlines()) == [
        '{"id":"rec0","pa', '{"id":"rec1","pa', '{"id":"rec2","pa']
    one = tmp_path / "one.txt"
    one.write_text(str(records / "rec0.hea") + "\n")
    other_shard = f"{1 - shard_of(str(records / 'rec0'), 2)}/2"
    out.write_text(EARLIER)
    result = batch(str(one), "--out", str(out), "--model", str(bundle), "--shard", other_shard)
    assert result.exit_code == 0, result.output
    assert out.read_text() == ""


def test_resume_as_csv_on_json_lines_names_real_options(records, bundle, tmp_path):  # noqa: F811
    out = tmp_path / "o.jsonl"
    out.write_text(EARLIER)
    result = batch(str(records), "--out", str(out), "--model", str(bundle), "--resume",
                   "--format", "csv")
    assert result.exit_code == 1
    message = str(result.exception)
    assert "--labels" not in message  # batch has no such option
    assert message.startswith(f"{out}: ") and "--model" in message and "--format" in message
    assert out.read_text() == EARLIER


def test_resume_as_json_lines_on_csv_is_refused(records, bundle, tmp_path):  # noqa: F811
    out = tmp_path / "scores.txt"
    args = [str(records), "--out", str(out), "--model", str(bundle)]
    assert batch(*args, "--format", "csv", "--glob", "rec0.hea").exit_code == 0
    before = out.read_text()
    result = batch(*args, "--resume")  # --format csv forgotten: the default is jsonl
    assert result.exit_code == 1
    assert str(result.exception).startswith(f"{out}: holds CSV rows")
    assert "--format csv" in str(result.exception)
    assert out.read_text() == before


def test_resume_refuses_rows_of_another_model(bundle, records, tmp_path):  # noqa: F811
    """`--resume` on JSON lines scored by another model appended this model's rows to them."""
    out = tmp_path / "scores.jsonl"
    first = batch(str(records), "--out", str(out), "--model", str(bundle))
    assert first.exit_code == 0, first.output
    rows = out.read_text().splitlines()
    other = rows[0].replace(f'"model":"{bundle.name}"', '"model":"ecglm-small"')
    assert other != rows[0]
    out.write_text(other + "\n")
    again = batch(str(records), "--out", str(out), "--model", str(bundle), "--resume")
    assert again.exit_code == 1
    assert f"holds rows scored by model 'ecglm-small', not '{bundle.name}'" in str(again.exception)
    assert out.read_text() == other + "\n"


def test_csv_rows_name_their_model_and_resume_refuses_another(bundle, records, tmp_path):  # noqa: F811
    """CSV rows of `ecglm-base` and `ecglm-small` had the same header and no model column, so
    `--resume` appended one model's rows to the other's without a word."""
    import csv

    out = tmp_path / "scores.csv"
    first = batch(str(records), "--out", str(out), "--model", str(bundle), "--format", "csv")
    assert first.exit_code == 0, first.output
    rows = list(csv.DictReader(out.open()))
    assert [row["model"] for row in rows] == [bundle.name] * 3
    lines = out.read_text().splitlines()
    other = lines[1].replace(f",{bundle.name},", ",ecglm-small,")
    assert other != lines[1]
    out.write_text(f"{lines[0]}\n{other}\n")
    again = batch(str(records), "--out", str(out), "--model", str(bundle), "--format", "csv",
                  "--resume")
    assert again.exit_code == 1
    assert f"holds rows scored by model 'ecglm-small', not '{bundle.name}'" in str(again.exception)
    assert out.read_text() == f"{lines[0]}\n{other}\n"


def _many_records(folder: Path, n: int = 150) -> Path:
    for i in range(n):
        write_wfdb(folder, f"rec{i:03d}", synthetic_ecg(fs=500, seed=i), 500)
    return folder


def _wait_for_rows(proc: subprocess.Popen, out: Path, n: int) -> None:
    deadline = time.monotonic() + 240
    while not out.exists() or out.read_text().count("\n") < n:
        assert proc.poll() is None and time.monotonic() < deadline, "no rows were written"
        time.sleep(0.05)


def _start_batch(folder: Path, out: Path, model: Path, workers: int = 2,
                 **popen: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ecglm_cli", "batch", str(folder), "--out", str(out), "--model",
         str(model), "--workers", str(workers), "--batch-size", "4", "--quiet"],
        stderr=subprocess.PIPE, text=True, env=cli_env(), **popen)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
def test_sigterm_mid_batch_ends_cleanly_with_whole_rows(bundle, tmp_path):  # noqa: F811
    """`timeout`/a scheduler's SIGTERM: the reader processes, ended by multiprocessing.Pool with
    SIGTERM too, each printed a KeyboardInterrupt traceback (they had inherited the main
    process's handler); the run must end with exit 143, one line, and only whole rows in OUT."""
    import json

    folder = _many_records(tmp_path / "many")
    out = tmp_path / "rows.jsonl"
    proc = _start_batch(folder, out, bundle)
    try:
        _wait_for_rows(proc, out, 8)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        stderr = proc.communicate()[1]
    assert "Traceback" not in stderr and stderr.strip().endswith("ecglm: terminated")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert 8 <= len(rows) < 150 and all("error" not in row for row in rows)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_reader_process_killed_mid_batch_costs_its_records_not_the_run(bundle, tmp_path):  # noqa: F811
    """A reader killed by the kernel (out of memory on a huge record) left multiprocessing.Pool
    waiting for its record forever. Now its records are error rows and the run goes on."""
    import json

    folder = _many_records(tmp_path / "many")
    out = tmp_path / "rows.jsonl"
    proc = _start_batch(folder, out, bundle)
    try:
        _wait_for_rows(proc, out, 8)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGKILL)
        assert proc.wait(timeout=120) == 3  # some records failed, the others were scored
    finally:
        proc.kill()
        stderr = proc.communicate()[1]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == [f"rec{i:03d}" for i in range(150)]
    lost = [row for row in rows if "error" in row]  # only the record it was reading: the one
    assert len(lost) == 1 and "reader process died" in lost[0]["error"]  # queued is re-sent
    assert "Traceback" not in stderr


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_sigterm_to_the_whole_process_group_ends_batch_promptly(bundle, tmp_path):  # noqa: F811
    """`timeout` and job schedulers signal every process of the job. Workers killed holding
    multiprocessing.Pool's shared queue lock left the main process waiting in the pool's
    shutdown for ever (seen for 10 minutes, with 4 workers)."""
    folder = _many_records(tmp_path / "many")
    out = tmp_path / "rows.jsonl"
    proc = _start_batch(folder, out, bundle, workers=4, start_new_session=True)
    try:
        _wait_for_rows(proc, out, 8)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        stderr = proc.communicate()[1]
    assert "Traceback" not in stderr and stderr.strip().endswith("ecglm: terminated")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pipe")
def test_batch_writes_its_rows_into_a_pipe(records, bundle):  # noqa: F811
    """`--out /dev/stdout` into a pipe failed with "OSError: [Errno 22] Invalid argument": the
    file was truncated before the first row, and a pipe cannot be."""
    import json

    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "batch", str(records), "--out", "/dev/stdout",
         "--model", str(bundle), "--quiet"], capture_output=True, text=True, env=cli_env(),
        timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(row["id"] for row in rows) == ["rec0", "rec1", "rec2"]
    resumed = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "batch", str(records), "--out", "/dev/stdout",
         "--model", str(bundle), "--quiet", "--resume"], capture_output=True, text=True,
        env=cli_env(), timeout=300)  # a usage error, not "not seekable" (exit 1)
    assert resumed.returncode == 2 and "--resume cannot read back" in resumed.stderr


def test_an_interrupt_while_the_readers_are_killed_leaves_none_alive():
    """SIGTERM during the shutdown of the readers cut the kill loop short: the survivors
    (which ignore SIGTERM) kept the interpreter waiting for them at exit, for ever."""
    script = """
import os, signal
from ecglm_cli.cli.main import Terminated, install_interrupt_handlers
from ecglm_cli.pipeline.batch import pool_context
from ecglm_cli.pipeline.reader_pool import ReaderPool
install_interrupt_handlers()
pool = ReaderPool(pool_context(), 3, int, (), str)
first = pool._workers[0].process
kill = first.kill
def signal_then_kill():
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(100000))  # the handler runs here, before any reader is killed
    kill()
first.kill = signal_then_kill
try:
    pool.close()
except Terminated:
    print("terminated")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=cli_env(), timeout=120)
    assert result.stdout.strip() == "terminated" and result.returncode == 0
