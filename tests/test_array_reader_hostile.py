"""Hostile bare arrays: CSV files that used to cost gigabytes, first rows taken for headers,
numbers only Python would read, boolean arrays, and .npz archives that decompress twice."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import write_sidecar

from ecglm_cli.errors import RecordError
from ecglm_cli.io import array_reader, read_record


def _csv(folder: Path, text: str, leads: tuple[str, ...] = ("I", "II")) -> Path:
    path = folder / "rec.csv"
    path.write_text(text)
    write_sidecar(path, fs=500, leads=list(leads))
    return path


def _rows(n: int) -> list[str]:
    return [f"{i * 0.001:.3f},{-i * 0.001:.3f}" for i in range(n)]


def test_a_long_single_column_csv_costs_memory_in_proportion_to_its_samples(tmp_path):
    """A 99 MB column of `0.12` took over 60 s and 5 GB: every cell was a Python string."""
    path = _csv(tmp_path, "0.12\n" * 300_000, leads=("II",))
    tracemalloc.start()
    try:
        record = read_record(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.n_samples == 300_000 and np.allclose(record.signal, 0.12)
    assert peak < 10 * 8 * 300_000  # ~5x the float64 samples now; 28x before


def test_chunks_read_like_one_piece_and_errors_name_their_line(tmp_path, monkeypatch):
    """Blank lines, empty, blank and quoted cells read the same whatever the chunk size; a bad
    cell or a ragged row far into the file is still named by its line."""
    lines = _rows(3000)
    lines[10], lines[20], lines[30] = "", "0.5,", '"0.25", '
    text = "\n".join(lines) + "\n"
    whole = read_record(_csv(tmp_path, text)).signal
    monkeypatch.setattr(array_reader, "_CHUNK_CHARS", 100)
    np.testing.assert_array_equal(read_record(_csv(tmp_path, text)).signal, whole)
    assert np.isnan(whole[1, 19]) and np.isnan(whole[1, 29]) and whole[0, 29] == 0.25

    lines = _rows(5000)
    lines[2500] = "abc,0.1"
    with pytest.raises(RecordError, match=r"line 2501: 'abc' is not a number"):
        read_record(_csv(tmp_path, "\n".join(lines)))
    lines[2500] = "0.1,0.2,0.3"
    with pytest.raises(RecordError, match=r"ragged rows: line 2501 has 3 fields, expected 2"):
        read_record(_csv(tmp_path, "\n".join(lines)))


def test_error_line_numbers_count_blank_lines(tmp_path):
    with pytest.raises(RecordError, match=r"line 4: 'abc' is not a number"):
        read_record(_csv(tmp_path, "0.1,0.2\n\n\n0.3,abc\n"))


@pytest.mark.parametrize(("first", "bad"), [("II,0.5", "II"), ("0.1,n/a", "n/a")])
def test_a_first_row_mixing_numbers_and_words_is_a_bad_data_row(tmp_path, first, bad):
    """`II,0.5` was taken for a header: column 1 silently became lead II, overriding the
    sidecar's I, II. A header is a row in which no cell is a number."""
    path = _csv(tmp_path, "\n".join([first, *_rows(100)]))
    with pytest.raises(RecordError, match=rf"line 1: '{bad}' is not a number") as error:
        read_record(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("cell", ["1_000", "1_0.5", "\u0661\u0662", "\uff11"])
def test_python_only_spellings_are_not_numbers(tmp_path, cell):
    """float() reads `1_000` as 1000 and accepts non-ASCII digits; a CSV cell may not."""
    with pytest.raises(RecordError, match=rf"line 2: '{cell}' is not a number"):
        read_record(_csv(tmp_path, f"0.1,0.2\n{cell},0.3\n0.4,0.5\n"))


@pytest.mark.parametrize("cell", [
    " 1.5 ", "1.", ".5", "+.5e-3", "1E+05", "\u00a01", "inf", "-Infinity", "nan", "1e999",
    "0x10", "1e", "NaN(1)", "1_000", "\u0661", "--1", "1.5f", "1" * 300,
])
def test_both_csv_parsers_agree_on_what_a_number_is(tmp_path, cell):
    """A chunk NumPy's parser reads and one it leaves to the careful parser (here because of a
    quoted empty cell) give the same value, or the same error, for the same cell."""
    outcomes = []
    for last in ("0.4,0.5", '0.4,""'):
        try:
            outcomes.append(read_record(_csv(tmp_path, f"0.1,0.2\n{cell},0.3\n{last}\n")).signal[0])
        except RecordError as exc:
            outcomes.append(str(exc))
    if isinstance(outcomes[0], str):
        assert outcomes[0] == outcomes[1]
    else:
        np.testing.assert_array_equal(outcomes[0], outcomes[1])


def test_a_giant_line_of_words_is_refused_quickly(tmp_path):
    """A 100 MB line of short words took minutes and gigabytes as 35 M lead names. A line
    that long is read only if NumPy's parser finds nothing but numbers in it."""
    with pytest.raises(RecordError, match=r"line 1: over 1 MB long and not all numbers"):
        read_record(_csv(tmp_path, ",".join(["a" * 99] * 11_000) + "\n"))


def test_a_csv_of_empty_cells_is_held_to_the_sample_limit(tmp_path, monkeypatch):
    """`,` per line is two missing samples in two bytes: 100 MB of it is 100 M samples."""
    monkeypatch.setattr(array_reader, "MAX_SAMPLES", 1000)
    with pytest.raises(RecordError, match=r"up to 1202 samples, more than the limit of 1000"):
        read_record(_csv(tmp_path, ",\n" * 600))


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_boolean_arrays_are_not_samples(tmp_path, suffix):
    path = tmp_path / f"flags{suffix}"
    flags = np.ones((2, 500), dtype=bool)
    np.save(path, flags) if suffix == ".npy" else np.savez(path, signal=flags)
    write_sidecar(path, fs=500, leads=["I", "II"])
    with pytest.raises(RecordError, match="array holds bool values, not real numbers"):
        read_record(path)


def _npz(path: Path, payload: bytes, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("signal.npy", payload)
    write_sidecar(path, fs=500, leads=["I", "II"])
    return path


def _npy_bytes(x: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, x)
    return out.getvalue()


def test_npz_member_is_decompressed_straight_into_the_array(tmp_path):
    """A 700 KB archive of deflated zeros held 720 MB twice: the bytes, then the array."""
    x = np.zeros((2, 1_000_000))
    path = _npz(tmp_path / "zeros.npz", _npy_bytes(x))
    tracemalloc.start()
    try:
        data = array_reader._load_npz(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.shape == x.shape and not data.any()
    assert peak < 1.3 * x.nbytes  # 2x before


def test_npz_member_with_a_bad_checksum_is_refused(tmp_path):
    """The member is read to its end, past the array, so zipfile still checks its CRC."""
    payload = _npy_bytes(np.ones((2, 500))) + b"trailing bytes"
    path = _npz(tmp_path / "bad.npz", payload, zipfile.ZIP_STORED)
    crc = zipfile.ZipFile(path).getinfo("signal.npy").CRC.to_bytes(4, "little")
    path.write_bytes(path.read_bytes().replace(crc, bytes(b ^ 0xFF for b in crc)))
    with pytest.raises(RecordError, match="Bad CRC-32"):
        read_record(path)


def test_unknown_lead_names_name_the_option_of_the_command(tmp_path):
    """The error said "pass --leads", which `classify`, `batch` and `ask` call --input-leads."""
    from click.testing import CliRunner

    from ecglm_cli.cli.main import cli

    np.save(tmp_path / "bare.npy", np.zeros((2, 5000)))
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "bare.npy"), "--fs", "500"])
    assert result.exit_code == 1
    assert "name them with --input-leads (--leads for `info`)" in result.stderr


def test_assembling_a_record_holds_each_channel_once_at_its_final_precision(tmp_path):
    """Every channel was kept in float64, stacked, then cast: 3.6x the file's float64 samples
    at the peak (2.5 GB for a 700 kB .npz of zeros). Channels are now float32 once checked."""
    x = np.random.default_rng(0).standard_normal((2, 1_000_000))
    np.save(tmp_path / "rec.npy", x)
    write_sidecar(tmp_path / "rec.npy", fs=500, leads=["I", "II"])
    tracemalloc.start()
    try:
        record = read_record(tmp_path / "rec.npy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.signal.dtype == np.float32
    np.testing.assert_allclose(record.signal, x.astype(np.float32))
    assert peak < 2.8 * x.nbytes
