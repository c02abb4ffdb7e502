"""Bare arrays: NumPy `.npy`/`.npz` and CSV.

These files carry samples but not always their sampling rate or lead names. Those come from,
in order: the `fs`/`leads` arguments (`--fs`, `--leads`), a CSV header row (lead names only),
then a JSON sidecar beside the file (`rec.json` for `rec.npy`): `{"fs": 500, "leads": [...],
"units": "mV"}` (`units` optional: mV, uV or V for every lead). Arrays may be shaped
`[leads, samples]` or `[samples, leads]`; the axis whose length matches the number of leads is
the lead axis (`[leads, samples]` when both do). CSV rows are samples, columns are leads.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import MAX_SAMPLES, assemble, check_rate, check_size, short_reason
from ecglm_cli.io.record import ECGRecord

MAX_SIDECAR_BYTES = 1_000_000
MAX_CSV_BYTES = 100 * 1024 * 1024
_NPZ_KEYS = ("signal", "ecg", "x", "data")


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
        raise RecordError(path, "lead names unknown: pass --leads, or add a header row or sidecar")
    rate = check_rate(path, rate)
    signal = _orient(path, data, len(names))
    unit = str(sidecar.get("units", "mV"))
    return assemble(
        path, list(names), [unit] * len(names), [rate] * len(names),
        lambda i: signal[i], suffix.lstrip("."), {"age": None, "sex": None, "comments": []},
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


def _numeric(path: Path, data: np.ndarray) -> np.ndarray:
    if data.dtype.kind not in "biuf":
        raise RecordError(path, f"array holds {data.dtype} values, not real numbers")
    return np.asarray(data, dtype=np.float64)


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
    return _numeric(path, np.array(mapped))


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
                data = np.load(io.BytesIO(member.read()), allow_pickle=False)
    except RecordError:
        raise
    except Exception as exc:
        raise RecordError(path, f"not a readable .npz file: {short_reason(exc)}") from None
    return _numeric(path, data)


def _check_npy_header(path: Path, member: Any) -> None:
    """Refuse a declared shape that would allocate an absurd array."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, _ = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, _ = np.lib.format.read_array_header_2_0(member)
    check_size(path, float(math.prod(shape)))


def _load_csv(path: Path) -> tuple[list[str] | None, np.ndarray]:
    """Rows of numbers, optionally under one header row of lead names; ragged rows are errors."""
    if path.stat().st_size > MAX_CSV_BYTES:
        raise RecordError(path, "CSV file is too large")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RecordError(path, "not a text CSV file (undecodable bytes)") from None
    if "\x00" in text:
        raise RecordError(path, "not a text CSV file (binary content)")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RecordError(path, "zero-length signal (empty CSV)")
    delimiter = max(",;\t", key=lines[0].count) if any(d in lines[0] for d in ",;\t") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header = [cell.strip() for cell in rows[0]]
        rows = rows[1:]
    width = len(header) if header else len(rows[0]) if rows else 0
    values = np.empty((len(rows), width), dtype=np.float64)
    first_data_line = 2 if header else 1
    for n, row in enumerate(rows):
        if len(row) != width:
            raise RecordError(
                path, f"ragged rows: line {n + first_data_line} has {len(row)} fields, "
                f"expected {width}"
            )
        try:
            values[n] = [float(cell) if cell.strip() else math.nan for cell in row]
        except ValueError:
            cell = next(c for c in row if not _is_number(c))
            line = n + first_data_line
            raise RecordError(path, f"line {line}: {cell[:20]!r} is not a number") from None
    return header, values.T


def _is_number(cell: str) -> bool:
    if not cell.strip():
        return True  # an empty cell is a missing sample
    try:
        float(cell)
    except ValueError:
        return False
    return True


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
