"""Hostile input: every malformed file gives exit code 1 and one stderr line naming the file,
never a traceback or a hang; corrupted bytes fed to each reader give only `RecordError`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO, cli_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecglm_cli.cli.main import cli
from ecglm_cli.errors import RecordError
from ecglm_cli.io import read_record


def test_corpus_is_large_enough(malformed_files):
    assert len(malformed_files) >= 20


def test_each_malformed_file_fails_alone_with_one_line(malformed_files):
    """In-process through the real CLI, one invocation per file."""
    runner = CliRunner()
    for kind, path in malformed_files.items():
        started = time.monotonic()
        result = runner.invoke(cli, ["info", "--format", "json", str(path)])
        assert time.monotonic() - started < 5, kind
        assert result.exit_code == 1, (kind, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (kind, result.stderr)
        assert lines[0].startswith("ecglm: error: ") and str(path) in lines[0], kind
        assert "Traceback" not in result.stderr and result.stdout == "", kind


def test_malformed_corpus_through_a_real_process(malformed_files, record_files):
    """One subprocess for the whole corpus plus a good record: the good one is still reported,
    each bad one gets exactly one line, the exit code is 1, and nothing leaks to stdout."""
    good = record_files["wfdb_16"]
    paths = [str(p) for p in malformed_files.values()]
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "info", "--format", "jsonl", *paths, str(good)],
        capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(paths)
    for line, path in zip(lines, paths, strict=True):
        assert line.startswith("ecglm: error: ") and path in line
    assert result.stdout.count("\n") == 1 and str(good) in result.stdout


@pytest.mark.parametrize("kind", ["dat_truncated", "random_bytes_edf", "csv_ragged"])
def test_single_bad_file_in_a_real_process(malformed_files, kind):
    path = malformed_files[kind]
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "info", str(path)],
        capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr


def test_debug_shows_the_traceback(malformed_files):
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "--debug", "info", str(malformed_files["csv_ragged"])],
        capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=60,
    )
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_usage_errors_exit_2(record_files):
    runner = CliRunner()
    assert runner.invoke(cli, ["info"]).exit_code == 2
    good, bare = str(record_files["wfdb_16"]), str(record_files["npy_bare"])
    assert runner.invoke(cli, ["info", "--format", "xml", good]).exit_code == 2
    assert runner.invoke(cli, ["info", "--fs", "fast", bare]).exit_code == 2
    assert runner.invoke(cli, ["info", "--leads", ",", bare]).exit_code == 2


# ---- property-based: corrupted bytes ---------------------------------------------------------

# reader -> (files of one record, the one to corrupt, the path to read, extra read_record args)
CORRUPTIBLE = {
    "wfdb_header": ("wfdb_16", ".hea"),
    "wfdb_signal": ("wfdb_212", ".dat"),
    "wfdb_multifreq_header": ("wfdb_multifreq", ".hea"),
    "edf": ("edf", ".edf"),
    "bdf": ("bdf", ".bdf"),
    "npy": ("npy_sidecar", ".npy"),
    "npz": ("npz", ".npz"),
    "csv": ("csv_header", ".csv"),
    "sidecar": ("npy_sidecar", ".json"),
}

mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1), st.binary(max_size=0)),
    st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
)


def _corrupt(data: bytes, mutation: tuple[str, float, bytes]) -> bytes:
    kind, where, chunk = mutation
    at = int(where * len(data))
    if kind == "truncate":
        return data[:at]
    if kind == "overwrite":
        return data[:at] + chunk + data[at + len(chunk):]
    return data[:at] + chunk + data[at:]


@pytest.mark.parametrize("reader", sorted(CORRUPTIBLE))
def test_corrupted_bytes_give_only_record_error(record_files, reader):
    key, suffix = CORRUPTIBLE[reader]
    source = record_files[key]
    siblings = [p for p in source.parent.iterdir() if p.stem == source.stem]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(mutation=mutations)
    def check(mutation):
        with tempfile.TemporaryDirectory() as tmp:
            for sibling in siblings:
                shutil.copy(sibling, tmp)
            target = Path(tmp) / f"{source.stem}{suffix}"
            target.write_bytes(_corrupt(target.read_bytes(), mutation))
            started = time.monotonic()
            try:
                record = read_record(Path(tmp) / source.name)
            except RecordError as exc:
                assert str(Path(tmp) / source.name) in str(exc)
            else:
                assert record.signal.ndim == 2 and record.n_samples > 0
            assert time.monotonic() - started < 5

    check()


@pytest.mark.parametrize("where", ["absolute", "parent", "subfolder"])
def test_header_may_not_name_a_file_outside_its_folder(record_files, tmp_path, where):
    """A WFDB header is a manifest: a signal file it names must sit beside it. Each header here
    points at a complete, valid signal file elsewhere. It is refused before that file is looked
    at (it used to be opened and sized, then refused as "invalid syntax in signal line")."""
    source = record_files["wfdb_16"]
    elsewhere = tmp_path / "elsewhere" / "sub"
    elsewhere.mkdir(parents=True)
    shutil.copy(source.with_suffix(".dat"), elsewhere / "x.dat")
    name = {"absolute": str(elsewhere / "x.dat"), "parent": "../elsewhere/sub/x.dat",
            "subfolder": "sub/x.dat"}[where]
    folder = tmp_path / ("elsewhere" if where == "subfolder" else "rec")
    folder.mkdir(exist_ok=True)
    lines = source.read_text().splitlines()
    lines = [lines[0]] + [" ".join([name, *ln.split()[1:]]) if i < int(lines[0].split()[1])
                          else ln for i, ln in enumerate(lines[1:])]
    header = folder / "r.hea"
    header.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(header)])
    assert result.exit_code == 1, result.output
    assert f"signal file name {name!r} refused" in result.stderr and str(header) in result.stderr


HEADER_PROBLEMS = {  # record line -> what the one error line says
    "r 100000000 500 5000": "declares 100000000 signals, more than the limit",
    "r 2 nan 5000": "sampling rate 'nan' in the header is not a positive decimal number",
    "r 2 -500 5000": "sampling rate '-500' in the header is not a positive decimal number",
    "r 2 5e2 5000": "sampling rate '5e2' in the header is not a positive decimal number",
    "r 2 500 -5": "signal length '-5' in the header is not a whole number",
    "r 2 0.01 5000": "sampling rate 0.01 Hz is outside the 25 Hz to 100 kHz",
}


@pytest.mark.parametrize("record_line", list(HEADER_PROBLEMS))
def test_header_record_line_is_checked_before_reading(tmp_path, record_line):
    """wfdb read these rates as its 250 Hz default (or 5 Hz for `5e2`), ignored the negative
    length, and allocated per declared signal (gigabytes from a 22-byte header)."""
    signal = (np.sin(np.arange(5000) / 50) * 1000).astype("<i2")
    np.stack([signal, signal], 1).tofile(tmp_path / "r.dat")
    (tmp_path / "r.hea").write_text(record_line + "\nr.dat 16 1000(0)/mV 16 0 0 0 0 I\n"
                                    "r.dat 16 1000(0)/mV 16 0 0 0 0 II\n")
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(tmp_path / "r.hea")])
    assert result.exit_code == 1 and result.stdout == ""
    assert HEADER_PROBLEMS[record_line] in result.stderr, result.stderr


def test_skew_longer_than_the_record_is_refused(tmp_path):
    """A skew of 999999999 on a 20 kB record used to allocate 4 GB and drop the lead as NaN."""
    signal = (np.sin(np.arange(5000) / 50) * 1000).astype("<i2")
    np.stack([signal, signal], 1).tofile(tmp_path / "r.dat")
    (tmp_path / "r.hea").write_text("r 2 500 5000\nr.dat 16:999999999 1000(0)/mV 16 0 0 0 0 I\n"
                                    "r.dat 16 1000(0)/mV 16 0 0 0 0 II\n")
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "r.hea")])
    assert result.exit_code == 1
    assert "skew of 999999999 samples is longer than the record (5000 samples)" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_signal_file_that_is_no_regular_file_is_named_as_such(tmp_path, kind):
    """A `.dat` that is a named pipe (or a folder) was reported as "missing signal file"."""
    (tmp_path / "r.hea").write_text("r 1 500 5000\nr.dat 16 1000(0)/mV 16 0 0 0 0 I\n")
    if kind == "fifo":
        os.mkfifo(tmp_path / "r.dat")
    else:
        (tmp_path / "r.dat").mkdir()
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "r.hea")])
    assert result.exit_code == 1
    assert "signal file r.dat is not a regular file" in result.stderr


def test_samples_beyond_100_volts_are_gaps_and_named(tmp_path):
    """A gain 1e30 too large used to pass as an ECG (quality ok, probabilities 1.0), and values
    past float32's range became inf after the finiteness check."""
    from conftest import write_sidecar

    x = np.stack([np.sin(np.arange(5000) / 50) * 1e300, np.sin(np.arange(5000) / 50)])
    np.save(tmp_path / "r.npy", x)
    write_sidecar(tmp_path / "r.json", fs=500, leads=["I", "II"], units="mV")
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(tmp_path / "r.npy")])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["leads"] == ["I", "II"] and 0.49 < info["nan_fraction"] < 0.5  # lead I's
    np.save(tmp_path / "r.npy", x[:1] * 0 + 1e6)  # every sample of the only lead: 1 kV
    write_sidecar(tmp_path / "r.json", fs=500, leads=["I"], units="mV")
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "r.npy")])
    assert result.exit_code == 1
    assert "no ECG channel has a sample within ±100000 mV (check the gain" in result.stderr


def test_model_input_size_is_bounded_before_resampling(monkeypatch):
    from ecglm_cli.io.record import ECGRecord
    from ecglm_cli.models.encoder import EncoderConfig
    from ecglm_cli.pipeline import prepare

    record = ECGRecord(signal=np.zeros((2, 2500), dtype=np.float32), fs=25.0, leads=["I", "II"],
                       original_leads=["I", "II"], source="slow.npy", format="npy")
    monkeypatch.setattr(prepare, "MAX_SAMPLES", 19_999)  # 100 s at 100 Hz x 2 leads = 20000
    with pytest.raises(RecordError, match="slow.npy: 100 s of 2 leads is 20000 samples at the "
                                          "model rate, more than the limit of 19999"):
        prepare.to_model_array(record, EncoderConfig())


def test_a_lead_name_wfdb_cannot_decode_is_named_by_its_position(tmp_path):
    """wfdb drops non-ASCII header bytes and returns None: the channel was reported as "None"."""
    signal = (np.sin(np.arange(5000) / 50) * 1000).astype("<i2")
    np.stack([signal, signal], 1).tofile(tmp_path / "r.dat")
    (tmp_path / "r.hea").write_bytes("r 2 500 5000\nr.dat 16 1000(0)/mV 16 0 0 0 0 \u2161\n"
                                     "r.dat 16 1000(0)/mV 16 0 0 0 0 V1\n".encode())
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(tmp_path / "r.hea")])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["leads"] == ["V1"] and list(info["dropped"]) == ["signal 1"]
