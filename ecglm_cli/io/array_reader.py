"""Bare arrays: NumPy `.npy`/`.npz` and CSV.

These files carry samples but not always their sampling rate or lead names. Those come from,
in order: the `fs`/`leads` arguments (`--fs`, `--leads`), a CSV header row (lead names only),
then a JSON sidecar beside the file (`rec.json` for `rec.npy`): `{"fs": 500, "leads": [...],
"units": "mV"}` (`units` optional: mV, uV or V for every lead). Arrays may be shaped
`[leads, samples]` or `[samples, leads]`; the axis whose length matches the number of leads is
the lead axis (`[leads, samples]` when both do). CSV rows are samples, columns are leads;
the first row is a header only when none of its cells is a number.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import MAX_SAMPLES, assemble, check_rate, check_size, short_reason
from ecglm_cli.io.record import ECGRecord

MAX_SIDECAR_BYTES = 1_000_000
MAX_CSV_BYTES = 100 * 1024 * 1024
_NPZ_KEYS = ("signal", "ecg", "x", "data")
_CHUNK_CHARS = 1 << 22  # CSV text is parsed in chunks of about 4 MB
_MAX_CAREFUL_LINE = 1 << 20  # a longer line is read only by the fast parser
# a number as a CSV cell may spell it (float() also takes '1_000' and non-ASCII digits);
# written so that no spelling can make the match backtrack for long
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|inf(?:inity)?|nan)", re.ASCII | re.IGNORECASE
)
_NOT_BLANK = re.compile(r"\S")
# empty or blank cells: after a delimiter, and at the start of a line before one (as one
# pattern, with a look-behind, they took twice as long)
_EMPTY_CELL = {
    d: (re.compile(rf"{e}[^\S\n{e}]*(?=[{e}\n]|\Z)"), re.compile(rf"(?m)^[^\S\n{e}]*(?={e})"))
    for d, e in ((d, re.escape(d)) for d in ",;\t")
}


def read_array(path: Path, fs: float | None, leads: list[str] | None) -> ECGRecord:
    """Read `.npy`, `.npz` or `.csv`; `fs`/`leads` override the sidecar."""
    suffix = path.suffix.lower()
    header: list[str] | None = None
    if suffix == ".npy":
        data = _load_npy(path)
    elif suffix == ".npz":
        data = _load_npz(path)
    else:
        header, data = _load_csv(path)
    sidecar = _sidecar(path)
    rate = fs if fs is not None else sidecar.get("fs")
    names = leads or header or sidecar.get("leads")
    if rate is None:
        raise RecordError(path, "sampling rate unknown: pass --fs or add a JSON sidecar with 'fs'")
    if not names:
        raise RecordError(path, "lead names unknown: name them with --input-leads (--leads for "
                                "`info`), a CSV header row or a JSON sidecar")
    rate = check_rate(path, rate)
    signal = _orient(path, data, len(names))
    unit = str(sidecar.get("units", "mV"))
    return assemble(
        path, list(names), [unit] * len(names), [rate] * len(names),
        [signal.shape[1]] * len(names), lambda i: signal[i], suffix.lstrip("."),
        {"age": None, "sex": None, "comments": []},
    )


def _orient(path: Path, data: np.ndarray, n_leads: int) -> np.ndarray:
    if data.ndim == 1 and n_leads == 1:
        return data.reshape(1, -1)
    if data.ndim != 2:
        raise RecordError(path, f"expected a 2-D array [leads, samples], got shape {data.shape}")
    if data.shape[0] == n_leads:
        return data
    if data.shape[1] == n_leads:
        return data.T
    raise RecordError(path, f"array shape {data.shape} does not match {n_leads} lead names")


def _check_dtype(path: Path, dtype: np.dtype) -> None:
    """Only integers and floats are samples: booleans, complex, objects and records are not."""
    if dtype.kind not in "iuf":
        raise RecordError(path, f"array holds {dtype} values, not real numbers")


def _load_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as file:
        if file.read(6) != b"\x93NUMPY":
            raise RecordError(path, "not a .npy file (no NumPy header)")
    try:
        # a memory map reads only the header first, so a huge declared shape costs nothing
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise RecordError(path, f"not a readable .npy file: {short_reason(exc)}") from None
    if not isinstance(mapped, np.ndarray):
        raise RecordError(path, "not a .npy array")
    check_size(path, float(mapped.size))
    _check_dtype(path, mapped.dtype)
    return np.array(mapped, dtype=np.float64)  # one copy, straight from the file to float64


def _load_npz(path: Path) -> np.ndarray:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            keys = [m[: -len(".npy")] for m in members]
            if not keys:
                raise RecordError(path, "the .npz archive holds no array")
            key = next((k for k in _NPZ_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise RecordError(
                    path, f"several arrays ({', '.join(keys)}); name the signal 'signal'"
                )
            info = archive.getinfo(f"{key}.npy")
            if info.file_size > MAX_SAMPLES * 8 + 4096:
                raise RecordError(path, f"array {key!r} is too large")
            with archive.open(info) as member:
                _check_npy_header(path, member)
            with archive.open(info) as member:
                # decompressed straight into the array: no second copy of the bytes in memory
                data = np.load(member, allow_pickle=False)
                while member.read(1 << 20):  # read to the end, where zipfile checks the CRC
                    pass
    except RecordError:
        raise
    except Exception as exc:
        raise RecordError(path, f"not a readable .npz file: {short_reason(exc)}") from None
    return np.asarray(data, dtype=np.float64)


def _check_npy_header(path: Path, member: Any) -> None:
    """Refuse a declared shape that would allocate an absurd array, or values that are not
    numbers, before anything is decompressed."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    check_size(path, float(math.prod(shape)))
    _check_dtype(path, dtype)


def _load_csv(path: Path) -> tuple[list[str] | None, np.ndarray]:
    """Rows of numbers, optionally under one header row of lead names; ragged rows are errors.

    NumPy's C parser reads the text chunk by chunk into one float64 array, so memory follows
    the numbers rather than Python strings; a chunk it refuses is read again by
    `_careful_rows`, which names the line at fault."""
    if path.stat().st_size > MAX_CSV_BYTES:
        raise RecordError(path, "CSV file is too large")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RecordError(path, "not a text CSV file (undecodable bytes)") from None
    if "\x00" in text:
        raise RecordError(path, "not a text CSV file (binary content)")
    found = _NOT_BLANK.search(text)
    if found is None:
        raise RecordError(path, "zero-length signal (empty CSV)")
    start = text.rfind("\n", 0, found.start()) + 1
    line = text.count("\n", 0, start) + 1
    header, width, delimiter = _first_row(path, text, start, line)
    if header:
        start, line = _next_line(text, start), line + 1
    most = text.count("\n", start) + 1  # rows, at most
    if most * width > MAX_SAMPLES:
        raise RecordError(
            path, f"up to {most * width} samples, more than the limit of {MAX_SAMPLES}"
        )
    values = np.empty((most, width))  # memory is only taken as rows are written
    rows = 0
    while start < len(text):
        end = _next_line(text, start + _CHUNK_CHARS)
        chunk = text[start:end]
        if chunk.strip():
            block = _rows(path, chunk, line, delimiter, width)
            values[rows : rows + len(block)] = block
            rows += len(block)
        start, line = end, line + chunk.count("\n")
    return header, values[:rows].T


def _next_line(text: str, at: int) -> int:
    """Where the line after the one holding `at` starts; the end of the text for the last."""
    end = text.find("\n", at)
    return len(text) if end < 0 else end + 1


def _first_row(
    path: Path, text: str, start: int, line: int
) -> tuple[list[str] | None, int, str]:
    """The header (None when there is none), the number of columns and the delimiter, from the
    line at `start`. It is a header only when none of its cells is a number: a row that mixes
    numbers and words is data with a bad cell, and must not rename the leads the sidecar names."""
    first = text[start : _next_line(text, start)]
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    numbers = _fast_rows(first, delimiter)
    if numbers is not None and len(numbers) == 1:
        return None, numbers.shape[1], delimiter
    _, row = next(_csv_rows(path, first, line, delimiter))
    cells = [cell.strip() for cell in row]
    if any(cells) and not any(_NUMBER.fullmatch(cell) for cell in cells):
        return cells, len(cells), delimiter
    return None, len(cells), delimiter


def _rows(path: Path, chunk: str, line: int, delimiter: str, width: int) -> np.ndarray:
    """The rows of one chunk of lines (the first is line `line`), as [rows, width] float64."""
    block = _fast_rows(chunk, delimiter)
    if block is not None and block.shape[1] == width:
        return block
    return _careful_rows(path, chunk, line, delimiter, width)


def _fast_rows(chunk: str, delimiter: str) -> np.ndarray | None:
    """NumPy's C parser, or None where it refuses anything; a second try reads empty cells as
    'nan'. It takes the numbers `_NUMBER` takes, so a cell reads the same whichever parser
    gets its chunk (a test checks it)."""
    block = _loadtxt(chunk, delimiter)
    if block is None:
        after_delimiter, line_start = _EMPTY_CELL[delimiter]
        chunk = line_start.sub("nan", after_delimiter.sub(f"{delimiter}nan", chunk))
        block = _loadtxt(chunk, delimiter)
    return block


def _loadtxt(text: str, delimiter: str) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data"
            return np.loadtxt(io.StringIO(text), dtype=np.float64, delimiter=delimiter,
                              comments=None, quotechar='"', ndmin=2)
    except ValueError:
        return None


def _careful_rows(path: Path, chunk: str, line: int, delimiter: str, width: int) -> np.ndarray:
    """Cell by cell: a blank cell is a missing sample (NaN), a blank line is skipped, and a
    ragged row or a cell that is not a number is an error naming its line."""
    values: list[float] = []
    for at, row in _csv_rows(path, chunk, line, delimiter):
        if len(row) <= 1 and not "".join(row).strip():
            continue  # a blank line
        if len(row) != width:
            raise RecordError(
                path, f"ragged rows: line {at} has {len(row)} fields, expected {width}"
            )
        for cell in row:
            text = cell.strip()
            if text and not _NUMBER.fullmatch(text):
                raise RecordError(path, f"line {at}: {cell[:20]!r} is not a number")
            values.append(float(text) if text else math.nan)
    return np.array(values, dtype=np.float64).reshape(-1, width)


def _csv_rows(
    path: Path, text: str, line: int, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """The rows of `text` (whose first line is `line`), each with the line it ends on. A line
    too long to split into Python strings is refused here."""

    def lines() -> Iterator[str]:
        for at, part in enumerate(io.StringIO(text), line):
            if len(part) > _MAX_CAREFUL_LINE:
                raise RecordError(path, f"line {at}: over 1 MB long and not all numbers")
            yield part

    reader = csv.reader(lines(), delimiter=delimiter)
    try:
        for row in reader:
            yield line + reader.line_num - 1, row
    except csv.Error as exc:
        at = line + reader.line_num - 1
        raise RecordError(path, f"line {at}: {short_reason(exc)}") from None


def _sidecar(path: Path) -> dict[str, Any]:
    """The JSON sidecar beside the file, checked; an empty dict when there is none."""
    side = path.with_suffix(".json")
    if not side.is_file():
        return {}
    if side.stat().st_size > MAX_SIDECAR_BYTES:
        raise RecordError(path, f"sidecar {side.name} is too large")
    try:
        content = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(
            path, f"sidecar {side.name} is not valid JSON: {short_reason(exc)}"
        ) from None
    if not isinstance(content, dict):
        raise RecordError(path, f"sidecar {side.name} must hold a JSON object")
    leads = content.get("leads")
    if leads is not None and (
        not isinstance(leads, list) or not all(isinstance(x, str) for x in leads)
    ):
        raise RecordError(path, f"sidecar {side.name}: 'leads' must be a list of names")
    if "fs" in content and (isinstance(content["fs"], bool) or not isinstance(
        content["fs"], (int, float))):
        raise RecordError(path, f"sidecar {side.name}: 'fs' must be a number")
    return content
