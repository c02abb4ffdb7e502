"""WFDB records (.hea + signal files), through wfdb-python.

Single-segment, multi-segment and multi-frequency records, in every storage format wfdb reads.
Before wfdb touches the signal files, the header is checked against them: a missing file, a
truncated file or an absurd declared length is reported instead of read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import assemble, check_rate, check_size, short_reason
from ecglm_cli.io.record import ECGRecord

MAX_HEADER_BYTES = 1_000_000
SIGNAL_SUFFIXES = (".hea", ".dat", ".mat")


def record_base(path: Path) -> Path:
    """`rec.hea`, `rec.dat`, `rec.mat` and `rec` all name the record `rec`."""
    return path.with_suffix("") if path.suffix.lower() in SIGNAL_SUFFIXES else path


def read_wfdb(path: Path) -> ECGRecord:
    """Read a WFDB record; `path` may be the header, a signal file, or the bare record name."""
    import wfdb

    base = record_base(path)
    header_path = Path(f"{base}.hea")
    if not header_path.is_file():
        raise RecordError(path, "no such record (missing .hea header)")
    if header_path.stat().st_size > MAX_HEADER_BYTES:
        raise RecordError(path, f"header {header_path.name} is too large to be a WFDB header")
    header = _read_header(path, base)

    if isinstance(header, wfdb.MultiRecord):
        multi_frequency = False
        _check_segments(path, base.parent, header)
    else:
        multi_frequency = any((s or 1) > 1 for s in (header.samps_per_frame or []))
        _check_signal_files(path, base.parent, header)
    try:
        rec = wfdb.rdrecord(str(base), physical=True, smooth_frames=not multi_frequency)
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name if getattr(exc, "filename", None) else "a signal file"
        raise RecordError(path, f"missing signal file {missing}") from None
    except Exception as exc:  # wfdb raises many types for malformed input
        raise RecordError(path, f"cannot read WFDB record: {short_reason(exc)}") from None

    names = list(rec.sig_name or [])
    units = list(rec.units or [])
    units += ["mV"] * (len(names) - len(units))
    fs = check_rate(path, rec.fs)
    if multi_frequency:
        channels = rec.e_p_signal
        rates = [fs * (s or 1) for s in rec.samps_per_frame]
    else:
        if rec.p_signal is None:
            raise RecordError(path, "zero-length signal (no samples)")
        channels = list(rec.p_signal.T)
        rates = [fs] * len(names)
    if len(channels) != len(names):
        raise RecordError(path, "header and signal disagree on the number of channels")
    return assemble(
        path, names, units, rates, lambda i: channels[i], "wfdb", _meta(rec.comments or [])
    )


def _read_header(path: Path, base: Path) -> Any:
    import wfdb

    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:
        raise RecordError(path, f"malformed WFDB header: {short_reason(exc)}") from None
    check_rate(path, header.fs)
    if not header.n_sig:
        raise RecordError(path, "header declares no signals")
    if header.sig_len == 0:
        raise RecordError(path, "zero-length signal (header declares 0 samples)")
    return header


def _check_segments(path: Path, folder: Path, header: Any) -> None:
    """Each segment of a multi-segment record must have its header and complete signal files."""
    import wfdb

    check_size(path, float(sum(header.seg_len or [0])) * float(header.n_sig or 0))
    for name in header.seg_name or []:
        if name == "~":  # a gap with no signal
            continue
        segment = folder / name
        if not Path(f"{segment}.hea").is_file():
            raise RecordError(path, f"missing segment header {name}.hea")
        try:
            seg_header = wfdb.rdheader(str(segment))
        except Exception as exc:
            problem = f"malformed header of segment {name}: {short_reason(exc)}"
            raise RecordError(path, problem) from None
        if seg_header.n_sig:
            _check_signal_files(path, folder, seg_header)


def _check_signal_files(path: Path, folder: Path, header: Any) -> None:
    """Every signal file exists and holds at least the bytes the header declares."""
    from wfdb.io._signal import BYTES_PER_SAMPLE

    sig_len = header.sig_len
    frames = [s or 1 for s in (header.samps_per_frame or [1] * header.n_sig)]
    if sig_len is not None:
        check_size(path, float(sig_len) * sum(frames))
    per_file: dict[str, list[int]] = {}
    for i, name in enumerate(header.file_name or []):
        per_file.setdefault(name, []).append(i)
    for name, channels in per_file.items():
        if name == "~" or name is None:
            continue
        file = folder / name
        if not file.is_file():
            raise RecordError(path, f"missing signal file {name}")
        first = channels[0]
        fmt = str(header.fmt[first])
        bytes_per_sample = BYTES_PER_SAMPLE.get(fmt)
        if bytes_per_sample is None:
            raise RecordError(path, f"unsupported WFDB storage format {fmt!r}")
        if sig_len is None or bytes_per_sample == 0:  # unknown length, or FLAC (compressed)
            continue
        offset = int((header.byte_offset or [0] * header.n_sig)[first] or 0)
        needed = offset + math.ceil(sig_len * sum(frames[i] for i in channels) * bytes_per_sample)
        size = file.stat().st_size
        if size < needed:
            raise RecordError(
                path, f"signal file {name} is truncated ({size} bytes, header needs {needed})"
            )


_AGE = re.compile(r"<?\bage\b>?\s*[:=]\s*(\d{1,3})", re.IGNORECASE)
_SEX = re.compile(r"<?\b(?:sex|gender)\b>?\s*[:=]\s*([a-z]+)", re.IGNORECASE)
_MITDB = re.compile(r"^\s*(\d{1,3})\s+([MF])\b")  # MIT-BIH: "69 M 1085 1629 x1"


def _meta(comments: list[str]) -> dict[str, Any]:
    """Age and sex where the header comments state them, plus the comments themselves."""
    meta: dict[str, Any] = {"age": None, "sex": None, "comments": list(comments)}
    for line in comments:
        if (m := _AGE.search(line)) and meta["age"] is None:
            meta["age"] = int(m.group(1))
        if (m := _SEX.search(line)) and meta["sex"] is None:
            meta["sex"] = _sex(m.group(1))
        if (m := _MITDB.match(line)) and meta["age"] is None:
            meta["age"], meta["sex"] = int(m.group(1)), m.group(2)
    return meta


def _sex(text: str) -> str | None:
    first = text.strip().upper()[:1]
    return first if first in ("M", "F") else None

