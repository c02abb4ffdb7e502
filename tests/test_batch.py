"""`ecglm batch` through the real CLI: every record exactly once, errors as rows, resume after
SIGKILL, shards, list files and stdin."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_classify import bundle, write_wfdb  # noqa: F401  (the session bundle fixture)

from ecglm_cli.cli.main import cli
from ecglm_cli.errors import EXIT_PARTIAL
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.pipeline.batch_inputs import discover, shard_of
from ecglm_cli.signal.synthetic import synthetic_ecg

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """24 synthetic 100 Hz records in two sub-folders, plus one 5 s 500 Hz record."""
    root = tmp_path_factory.mktemp("tree")
    for i in range(24):
        write_wfdb(root / f"part{i % 2}", f"rec{i:02d}", synthetic_ecg(fs=100, seed=i), 100)
    write_wfdb(root / "part1", "long", synthetic_ecg(fs=500, seconds=5, seed=99), 500)
    return root


def run_batch(*args: str, input_text: str | None = None):
    return CliRunner().invoke(cli, ["batch", *args, "--quiet"], input=input_text,
                              catch_exceptions=False)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_row_per_record(tree, bundle, tmp_path):  # noqa: F811
    out = tmp_path / "o.jsonl"
    result = run_batch(str(tree), "--out", str(out), "--model", str(bundle), "--workers", "2",
                       "--batch-size", "4")
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted([f"part{i % 2}/rec{i:02d}" for i in range(24)] + ["part1/long"])
    assert all(Path(r["path"]).is_file() and "probabilities" in r for r in rows)
    assert "scored 25, failed 0, skipped 0" in result.stderr


def test_broken_files_give_error_rows_and_exit_3(tree, bundle, tmp_path):  # noqa: F811
    (tmp_path / "bad").mkdir()
    bad = tmp_path / "bad"
    (bad / "garbage.hea").write_bytes(os.urandom(200))
    (bad / "nodat.hea").write_text("nodat 1 100 1000\nnodat.dat 16 1000 16 0 0 0 0 I\n")
    (bad / "random.edf").write_bytes(os.urandom(3000))
    (bad / "empty.edf").write_bytes(b"")
    write_wfdb(bad, "truncated", synthetic_ecg(fs=100, seed=1), 100)
    with open(bad / "truncated.dat", "r+b") as fh:
        fh.truncate(100)
    lst = tmp_path / "list.txt"
    good = sorted(str(p) for p in tree.rglob("*.hea"))[:5]
    broken = [str(p) for p in sorted(bad.iterdir()) if p.suffix != ".dat"]
    lst.write_text("\n".join(good + broken) + "\n")
    out = tmp_path / "o.jsonl"
    result = run_batch(str(lst), "--out", str(out), "--model", str(bundle))
    assert result.exit_code == EXIT_PARTIAL
    rows = read_rows(out)
    errors = [r for r in rows if "error" in r]
    assert len(rows) == 10 and len(errors) == 5
    assert {Path(r["path"]).name for r in errors} == {
        "garbage.hea", "nodat.hea", "random.edf", "empty.edf", "truncated.hea"}
    assert all(set(r) == {"id", "path", "error"} and r["error"] for r in errors)
    assert "scored 5, failed 5" in result.stderr and "Traceback" not in result.stderr


def test_sigkill_then_resume_gives_every_record_exactly_once(tree, bundle, tmp_path):  # noqa: F811
    out = tmp_path / "o.jsonl"
    cmd = [sys.executable, "-m", "ecglm_cli", "batch", str(tree), "--out", str(out), "--model",
           str(bundle), "--workers", "1", "--batch-size", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = out.read_bytes().count(b"\n")
    assert 3 <= before < 25
    with open(out, "ab") as fh:  # as if the kill had cut a row in half
        fh.write(b'{"id":"part0/rec00","path":"x","probabil')
    resumed = run_batch(*cmd[4:], "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"skipped {before}" in resumed.stderr
    rows = read_rows(out)  # every line parses
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 25


def test_shards_cover_every_record_exactly_once(tree, bundle, tmp_path):  # noqa: F811
    seen = []
    for i in range(3):
        out = tmp_path / f"part{i}.csv"
        result = run_batch(str(tree), "--out", str(out), "--model", str(bundle), "--shard",
                           f"{i}/3")
        assert result.exit_code == 0, result.output
        with open(out, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert all(shard_of(r["id"], 3) == i for r in rows)
        assert all(0 <= float(r["superdiagnostic.NORM"]) <= 1 for r in rows)
        seen += [r["id"] for r in rows]
    assert sorted(seen) == sorted(job.id for job in discover(str(tree)))
    assert len(seen) == len(set(seen)) == 25


def test_shard_hash_is_stable():
    # pinned values: a record's shard must never change between runs, machines or versions
    assert [shard_of(f"00000/{i:05d}_lr", 4) for i in range(1, 9)] == [1, 0, 2, 3, 0, 2, 3, 2]
    assert shard_of("00000/00001_lr", 1000) == 837


def test_list_file_and_stdin(tree, bundle, tmp_path):  # noqa: F811
    paths = sorted(str(p) for p in tree.rglob("*.hea"))[:6]
    lst = tmp_path / "list.txt"
    lst.write_text("# six records\n" + "\n".join(paths) + "\n\n")
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run_batch(str(lst), "--out", str(out_a), "--model", str(bundle)).exit_code == 0
    result = run_batch("-", "--out", str(out_b), "--model", str(bundle),
                       input_text="\n".join(paths) + "\n")
    assert result.exit_code == 0, result.output
    for out in (out_a, out_b):
        rows = read_rows(out)
        assert sorted(r["path"] for r in rows) == paths
        assert {r["id"] for r in rows} == {p[: -len(".hea")] for p in paths}


def test_glob_and_multi_segment_headers_are_not_counted_twice(tmp_path):
    root = tmp_path / "ms"
    for name in ("multi_0001", "multi_0002"):
        write_wfdb(root, name, synthetic_ecg(fs=100, seconds=5, seed=1)[:2], 100, ["I", "II"])
    (root / "multi_layout.hea").write_text("multi_layout 2 100 0\n~ 0 1000 16 0 0 0 0 I\n"
                                           "~ 0 1000 16 0 0 0 0 II\n")
    (root / "multi.hea").write_text("multi/3 2 100 1000\nmulti_layout 0\nmulti_0001 500\n"
                                    "multi_0002 500\n")
    write_wfdb(root, "single", synthetic_ecg(fs=100, seed=2), 100)
    np.save(root / "arr.npy", synthetic_ecg(fs=100, seed=3))
    (root / "arr.json").write_text('{"fs": 100, "leads": "12"}')
    np.save(root / "nosidecar.npy", synthetic_ecg(fs=100, seed=3))
    ids = [job.id for job in discover(str(root))]
    assert ids == ["arr", "multi", "single"]
    assert [job.id for job in discover(str(root), pattern="s*.hea")] == ["single"]
    assert "nosidecar" in [job.id for job in discover(str(root), bare_arrays=True)]


def test_resume_on_csv_keeps_one_header(tree, bundle, tmp_path):  # noqa: F811
    out = tmp_path / "o.csv"
    args = ["--out", str(out), "--model", str(bundle)]
    assert run_batch(str(tree), *args, "--shard", "0/2").exit_code == 0
    result = run_batch(str(tree), *args, "--resume")
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,path,model,error,")
    assert sum(line.startswith("id,") for line in lines) == 1
    assert len(lines) == 26


def test_odd_file_names_neither_end_the_batch_nor_repeat_on_resume(bundle, tmp_path):  # noqa: F811
    """A file name that is not UTF-8 ended the whole batch with UnicodeEncodeError (and every
    --resume at the same record); in CSV, an id with two spaces or a leading one was written
    collapsed, read back as another id, and scored again at every --resume."""
    folder = tmp_path / "odd"
    folder.mkdir()
    sidecar = json.dumps({"fs": 100, "leads": list(STANDARD_LEADS), "units": "mV"})
    for name in ("caf\udce9", "a  b", " lead", "plain"):  # \udce9: the byte 0xE9 (Latin-1 é)
        np.save(folder / f"{name}.npy", synthetic_ecg(fs=100, seed=1))
        (folder / f"{name}.json").write_text(sidecar)
    expected = sorted(["caf\\xe9", "a  b", " lead", "plain"])
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"rows.{fmt}"
        for resume in ((), ("--resume",), ("--resume",)):
            result = run_batch(str(folder), "--out", str(out), "--model", str(bundle),
                               "--format", fmt, "--no-measurements", *resume)
            assert result.exit_code == 0, result.output
        with open(out, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh)) if fmt == "csv" else [json.loads(x) for x in fh]
        assert sorted(r["id"] for r in rows) == expected, fmt
        assert any(r["path"].endswith("caf\\xe9.npy") for r in rows)
    shard = run_batch(str(folder), "--out", str(tmp_path / "s.jsonl"), "--model", str(bundle),
                      "--shard", "0/2", "--no-measurements")
    assert shard.exit_code == 0, shard.output


def test_an_error_row_quotes_the_path_exactly(bundle, tmp_path):  # noqa: F811
    """Error texts had every run of whitespace collapsed: `double  space.hea` was reported as
    `double space.hea`, which names no file."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "double  space.hea").write_text("not a header\n")
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"rows.{fmt}"
        result = run_batch(str(folder), "--out", str(out), "--model", str(bundle),
                           "--format", fmt)
        assert result.exit_code == EXIT_PARTIAL, result.output
        with open(out, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh)) if fmt == "csv" else [json.loads(x) for x in fh]
        assert rows[0]["error"].startswith(f"{folder / 'double  space.hea'}: "), rows[0]


def test_a_list_with_a_byte_order_mark_repeats_and_latin1_bytes(tree, tmp_path):
    """A list file's BOM made its first record an error row, a record listed twice was scored
    twice, and a Latin-1 byte on stdin ended the run."""
    first, second = sorted(str(p) for p in tree.rglob("*.hea"))[:2]
    listing = tmp_path / "list.txt"
    listing.write_text(f"\ufeff{first}\n{second}\n{first}\n", encoding="utf-8")
    jobs = list(discover(str(listing)))
    assert [job.path for job in jobs] == [first, second]
    odd = tmp_path / "caf\udce9.hea"
    odd.write_bytes(Path(first).read_bytes())
    result = run_batch("-", "--out", str(tmp_path / "o.jsonl"), "--no-measurements",
                       "--model", "ecglm-small",
                       input_text=os.fsencode(odd) + b"\n" + os.fsencode(first) + b"\n")
    assert result.exit_code in (0, EXIT_PARTIAL), result.output
    assert {r["id"] for r in read_rows(tmp_path / "o.jsonl")} == {
        str(tmp_path / "caf\\xe9"), first[: -len(".hea")]}


def test_classify_and_info_spell_odd_file_names_as_batch_does(bundle, tmp_path):  # noqa: F811
    """`classify` and `info` wrote a Latin-1 file name's lone surrogate raw: under a UTF-8
    locale the run ended at it with UnicodeEncodeError (later records unprinted), and a newline
    in a name split a CSV row in two. A batch error row spelt the path otherwise than `path`."""
    folder = tmp_path / "odd"
    folder.mkdir()
    sidecar = json.dumps({"fs": 100, "leads": list(STANDARD_LEADS), "units": "mV"})
    names = ["caf\udce9", "new\nline", "plain"]
    for name in names:
        np.save(folder / f"{name}.npy", synthetic_ecg(fs=100, seed=1))
        (folder / f"{name}.json").write_text(sidecar)
    files = [os.fsencode(folder / f"{name}.npy") for name in names]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}

    def run(*args: bytes) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable.encode(), b"-m", b"ecglm_cli", *args],
                              capture_output=True, env=env, timeout=300)

    scored = run(b"classify", *files, b"--model", os.fsencode(bundle), b"--no-measurements",
                 b"--format", b"jsonl")
    assert scored.returncode == 0, scored.stderr
    rows = [json.loads(line) for line in scored.stdout.decode("utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["caf\\xe9", "new\\nline", "plain"]
    table = run(b"classify", files[0], b"--model", os.fsencode(bundle), b"--no-measurements",
                b"--format", b"table")
    assert table.returncode == 0 and table.stdout.decode("utf-8").startswith("caf\\xe9  (")
    as_csv = run(b"classify", *files, b"--model", os.fsencode(bundle), b"--no-measurements",
                 b"--format", b"csv")
    assert len(as_csv.stdout.decode("utf-8").splitlines()) == 4  # the header and three rows
    info = run(b"info", *files, b"--format", b"jsonl")
    assert [json.loads(line)["file"].rsplit("/", 1)[1] for line in
            info.stdout.decode("utf-8").splitlines()] == ["caf\\xe9.npy", "new\\nline.npy",
                                                          "plain.npy"]
    missing = run(b"info", os.fsencode(folder / "gone\udce9.hea"))
    assert missing.stderr.decode("utf-8").endswith("gone\\xe9.hea)\n")  # was \udce9
    asked = CliRunner().invoke(cli, ["ask", str(folder / "caf\udce9.npy"), "Is it normal?",
                                     "--format", "json"])
    assert json.loads(asked.stdout)["record"].endswith("caf\\xe9.npy"), asked.output
    (folder / "caf\udce9.json").write_text("{")  # unreadable sidecar: an error row
    out = tmp_path / "rows.jsonl"
    assert run_batch(str(folder), "--out", str(out), "--model", str(bundle),
                     "--no-measurements").exit_code == EXIT_PARTIAL
    error = next(r for r in read_rows(out) if "error" in r)
    assert error["error"].startswith(error["path"] + ": ")
    error["error"].encode("utf-8")  # no lone surrogate


def test_a_record_listed_in_several_spellings_is_scored_once(tree, tmp_path, monkeypatch):
    """`rec.hea`, `rec`, `rec.dat`, `./rec.hea` and the absolute path were four records: a list
    built with `find -name '*.hea' -o -name '*.dat'` counted every record twice."""
    header = sorted(tree.rglob("*.hea"))[0]
    monkeypatch.chdir(header.parent)
    stem = header.stem
    listing = tmp_path / "list.txt"
    listing.write_text(f"{stem}.hea\n{stem}\n{stem}.dat\n./{stem}.hea\n{header}\n")
    assert [(job.id, job.path) for job in discover(str(listing))] == [(stem, f"{stem}.hea")]
    # a header linked from another folder names that folder's signal files: another record
    other = tmp_path / "other"
    other.mkdir()
    (other / header.name).symlink_to(header)
    listing.write_text(f"{stem}.hea\n{other / header.name}\n")
    assert len(list(discover(str(listing)))) == 2


def test_out_dash_writes_the_rows_to_stdout(tree, bundle, tmp_path):  # noqa: F811
    """`--out -` made a file named `-` in the current folder; `-` is stdin for INPUT."""
    listing = tmp_path / "two.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted(tree.rglob("rec0[01].hea"))))
    done = subprocess.run([sys.executable, "-m", "ecglm_cli", "batch", str(listing), "--out", "-",
                           "--quiet", "--model", str(bundle), "--no-measurements"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["id"].rsplit("/", 1)[1] for line in
                  done.stdout.splitlines()) == ["rec00", "rec01"]
    assert not (tmp_path / "-").exists()
    appended = tmp_path / "all.jsonl"  # `--out - >> all.jsonl` truncated what it held
    appended.write_text('{"id": "earlier"}\n')
    with open(appended, "ab") as stdout:
        subprocess.run([sys.executable, "-m", "ecglm_cli", "batch", str(listing), "--out", "-",
                        "--quiet", "--model", str(bundle), "--no-measurements"], stdout=stdout,
                       check=True, cwd=tmp_path, timeout=300)
    assert [json.loads(line)["id"] for line in appended.read_text().splitlines()][0] == "earlier"
    assert len(appended.read_text().splitlines()) == 3
    refused = run_batch(str(listing), "--out", "-", "--resume")
    assert refused.exit_code == 2 and "stdout has none" in refused.output
