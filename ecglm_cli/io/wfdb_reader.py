"""WFDB records (.hea + signal files), through wfdb-python.

Single-segment, multi-segment and multi-frequency records, in every storage format wfdb reads.
Before wfdb touches the signal files, the header is checked against them: a missing file, a
truncated file or an absurd declared length is reported instead of read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import assemble, check_rate, check_size, short_reason
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.safe_paths import UnsafePathError, relative_parts

MAX_HEADER_BYTES = 1_000_000
MAX_SIGNALS = 4096  # signal lines per header; wfdb allocates per declared signal
# bytes per sample of each WFDB storage format (0: FLAC, compressed); as in wfdb.io._signal,
# repeated here so that refusing a bad record does not pay for importing wfdb and pandas
BYTES_PER_SAMPLE = {
    "8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5,
    "310": 4 / 3, "311": 4 / 3, "508": 0, "516": 0, "524": 0,
}
SIGNAL_SUFFIXES = (".hea", ".dat", ".mat")
# The record and signal line grammar of wfdb.io.header (wfdb 4.x), repeated for the same reason:
# importing wfdb.io.header imports wfdb and pandas (~0.4 s of a cold start).
# tests/test_readers.py checks that they still equal wfdb's own.
RX_RECORD = re.compile(r"""
    [ \t]* (?P<record_name>[-\w]+)
           /?(?P<n_seg>\d*)
    [ \t]+ (?P<n_sig>\d+)
    [ \t]* (?P<fs>\d*\.?\d*)
           /*(?P<counter_freq>-?\d*\.?\d*)
           \(?(?P<base_counter>-?\d*\.?\d*)\)?
    [ \t]* (?P<sig_len>\d*)
    [ \t]* (?P<base_time>\d{,2}:?\d{,2}:?\d{,2}\.?\d{,6})
    [ \t]* (?P<base_date>\d{,2}/?\d{,2}/?\d{,4})
    """, re.VERBOSE)
RX_SIGNAL = re.compile(r"""
    [ \t]* (?P<file_name>~?[-\w]*\.?[\w]*)
    [ \t]+ (?P<fmt>\d+)
           x?(?P<samps_per_frame>\d*)
           :?(?P<skew>\d*)
           \+?(?P<byte_offset>\d*)
    [ \t]* (?P<adc_gain>-?\d*\.?\d*e?[\+-]?\d*)
           \(?(?P<baseline>-?\d*)\)?
           /?(?P<units>[\w\^\-\?%\/]*)
    [ \t]* (?P<adc_res>\d*)
    [ \t]* (?P<adc_zero>-?\d*)
    [ \t]* (?P<init_value>-?\d*)
    [ \t]* (?P<checksum>-?\d*)
    [ \t]* (?P<block_size>\d*)
    [ \t]* (?P<sig_name>[\S]?[^\t\n\r\f\v]*)
    """, re.VERBOSE)


def record_base(path: Path) -> Path:
    """`rec.hea`, `rec.dat`, `rec.mat` and `rec` all name the record `rec`."""
    return path.with_suffix("") if path.suffix.lower() in SIGNAL_SUFFIXES else path


@dataclass
class _Layout:
    """What a header declares about its signal files (enough to check them before reading)."""

    sig_len: int | None
    files: list[str] = field(default_factory=list)
    fmts: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    skews: list[int] = field(default_factory=list)
    segments: list[tuple[str, int]] | None = None
    text: str = ""  # the header itself, for the fast reader


def read_wfdb(path: Path) -> ECGRecord:
    """Read a WFDB record; `path` may be the header, a signal file, or the bare record name."""
    base = record_base(path)
    layout = _layout(path, base)
    if layout.segments is not None:
        multi_frequency = False
        uncalibrated = _check_segments(path, base.parent, layout)
    else:
        multi_frequency = any(n > 1 for n in layout.frames)
        _check_signal_files(path, base.parent, layout)
        if not multi_frequency:
            fast = _read_format16(path, base, layout.text)
            if fast is not None:
                return fast
    import wfdb  # imported late: it pulls in pandas, which plain format-16 records never need

    try:
        if _fixed_layout_with_gaps(layout):
            rec = _read_fixed_layout_with_gaps(path, wfdb.rdrecord(str(base), m2s=False))
        else:
            rec = wfdb.rdrecord(str(base), physical=True, smooth_frames=not multi_frequency)
    except RecordError:
        raise
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name if getattr(exc, "filename", None) else "a signal file"
        raise RecordError(path, f"missing signal file {missing}") from None
    except Exception as exc:  # wfdb raises many types for malformed input
        raise RecordError(path, f"cannot read WFDB record: {short_reason(exc)}") from None

    # wfdb reads headers as ASCII: a name of other characters comes back as None
    names = [name or f"signal {i + 1}" for i, name in enumerate(rec.sig_name or [])]
    lines = _signal_lines(layout.text, len(names)) if layout.segments is None else None
    units = list(rec.units or [])
    if lines and not layout.text.isascii():  # wfdb dropped what it could not decode
        units = [line["units"] or "mV" for line in lines]
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
    record = assemble(
        path, names, units, rates, [len(c) for c in channels], lambda i: channels[i], "wfdb",
        _meta(rec.comments or []),
    )
    if layout.segments is None:  # named as wfdb names them (it decodes only ASCII)
        uncalibrated = {names[i] for i in _uncalibrated(lines or [])}
    if uncalibrated:
        record.meta["uncalibrated_leads"] = [
            lead for lead, name in zip(record.leads, record.original_leads, strict=True)
            if name in uncalibrated]
    return record


def _signal_lines(text: str, n_sig: int) -> list[re.Match] | None:
    """The signal lines of a single-segment header, parsed here for what wfdb does not pass on:
    units it could not decode (it drops non-ASCII bytes, so "1.0/µV" came back in "V", a
    million times too large) and a gain of 0 (it assumes 200). None where they cannot be
    matched; wfdb's own reading then stands."""
    if not n_sig:
        return None
    if not text.isascii():
        try:
            text = text.encode("latin-1").decode("utf-8")  # read as latin-1; most likely UTF-8
        except UnicodeError:
            pass  # latin-1 it is: "µ" is one byte there too
    lines, _ = _header_lines(text)
    matches = [RX_SIGNAL.match(line) for line in lines[1:1 + n_sig]]
    if len(matches) != n_sig or not all(matches):
        return None
    return matches


def _header_lines(text: str) -> tuple[list[str], list[str]]:
    """A header's record and signal (or segment) lines, stripped, and its comments."""
    lines, comments = [], []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comments.append(line.strip(" \t#"))
        elif line:
            lines.append(line)
    return lines, comments


def _layout(path: Path, base: Path) -> _Layout:
    """Read the header's declared layout, quickly; wfdb's own parser where ours gives up."""
    header_path = Path(f"{base}.hea")
    if header_path.exists() and not header_path.is_file():
        raise RecordError(path, f"header {header_path.name} is not a regular file")
    if not header_path.is_file():
        raise RecordError(path, f"no such record (missing header {header_path.name})")
    if header_path.stat().st_size > MAX_HEADER_BYTES:
        raise RecordError(path, f"header {header_path.name} is too large to be a WFDB header")
    text = header_path.read_text(encoding="latin-1")
    if not text.strip():
        raise RecordError(path, f"header {header_path.name} is empty")
    lines = [line.split() for line in _header_lines(text)[0]]
    _check_record_line(path, lines[0] if lines else [])
    try:
        layout = _parse_layout(lines)
    except (ValueError, IndexError):
        layout = _wfdb_layout(path, base)
    if layout.sig_len == 0:
        raise RecordError(path, "zero-length signal (header declares 0 samples)")
    if layout.segments is None and not layout.files:
        raise RecordError(path, "header declares no signals")
    layout.text = text
    return layout


_PLAIN_NUMBER = re.compile(r"\d+\.?\d*|\.\d+")


def _check_record_line(path: Path, fields: list[str]) -> None:
    """The record line's counts and rate, checked before any parser allocates for them.

    wfdb reads a rate it cannot parse (`nan`, `-500`, `5e2`) as its 250 Hz default or as the
    digits it can match, and allocates per declared signal before reading any signal line."""
    if len(fields) < 2 or not fields[1].isdigit():
        return  # wfdb's parser gives the malformed-header message
    if int(fields[1]) > MAX_SIGNALS:
        raise RecordError(path, f"header declares {fields[1]} signals, more than the limit of "
                                f"{MAX_SIGNALS}")
    if len(fields) > 2:
        rate = fields[2].split("/", 1)[0]
        if not _PLAIN_NUMBER.fullmatch(rate):
            raise RecordError(path, f"sampling rate {rate!r} in the header is not a positive "
                                    "decimal number")
    if len(fields) > 3 and not fields[3].isdigit():
        raise RecordError(path, f"signal length {fields[3]!r} in the header is not a whole "
                                "number of samples")


_FMT_FIELD = re.compile(r"(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?")


def _parse_layout(lines: list[list[str]]) -> _Layout:
    """The record line and signal (or segment) lines of a header; ValueError when unusual.

    wfdb's own header parser is slow (tens of ms per header); this covers the usual headers
    so the checks cost nothing, and anything unusual goes to wfdb's parser instead.
    """
    record = lines[0]
    n_sig = int(record[1])
    sig_len = int(record[3]) if len(record) > 3 else None
    if "/" in record[0]:
        n_seg = int(record[0].split("/", 1)[1])
        segments = [(line[0], int(line[1])) for line in lines[1 : 1 + n_seg]]
        if len(segments) != n_seg:
            raise ValueError("fewer segment lines than declared")
        return _Layout(sig_len, segments=segments)
    layout = _Layout(sig_len)
    for line in lines[1 : 1 + n_sig]:
        match = _FMT_FIELD.fullmatch(line[1])
        if not match:
            raise ValueError(f"format field {line[1]!r}")
        layout.files.append(line[0])
        layout.fmts.append(match.group(1))
        layout.frames.append(int(match.group(2) or 1))
        layout.offsets.append(int(match.group(4) or 0))
        layout.skews.append(int(match.group(3) or 0))
    if len(layout.files) != n_sig:
        raise ValueError("fewer signal lines than declared")
    return layout


def _wfdb_layout(path: Path, base: Path) -> _Layout:
    import wfdb

    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:
        raise RecordError(path, f"malformed WFDB header: {short_reason(exc)}") from None
    if isinstance(header, wfdb.MultiRecord):
        segments = list(zip(header.seg_name, header.seg_len, strict=True))
        return _Layout(header.sig_len, segments=segments)
    n = header.n_sig or 0
    return _Layout(
        header.sig_len,
        files=list(header.file_name or []),
        fmts=[str(f) for f in (header.fmt or [])],
        frames=[s or 1 for s in (header.samps_per_frame or [1] * n)],
        offsets=[o or 0 for o in (header.byte_offset or [0] * n)],
        skews=[k or 0 for k in (header.skew or [0] * n)],
    )


def _check_segments(path: Path, folder: Path, layout: _Layout) -> set[str]:
    """Each segment of a multi-segment record must have its header and complete signal files;
    returns the names of the signals some segment gives a gain of 0 (`_uncalibrated`)."""
    check_size(path, float(sum(length for _, length in layout.segments or [])))
    uncalibrated: set[str] = set()
    for name, length in layout.segments or []:
        if name == "~":  # a gap with no signal
            continue
        _check_file_name(path, name, "segment")
        if not Path(f"{folder / name}.hea").is_file():
            raise RecordError(path, f"missing segment header {name}.hea")
        if length == 0:  # a variable layout's layout segment: signal names, no samples (MIMIC)
            continue
        segment = _layout(path, folder / name)
        if segment.segments is not None:  # wfdb recursed into it (a master listing itself:
            # "maximum recursion depth exceeded", 3 s later)
            raise RecordError(path, f"segment {name} is itself a multi-segment record (WFDB "
                                    "segments hold signals)")
        if segment.files:
            _check_signal_files(path, folder, segment)
            lines = _signal_lines(segment.text, len(segment.files)) or []
            uncalibrated |= {lines[i]["sig_name"].strip() for i in _uncalibrated(lines)}
    return uncalibrated


def _uncalibrated(lines: list[re.Match]) -> list[int]:
    """The signal lines whose gain is 0 or none: "uncalibrated" in WFDB (header(5)); wfdb then
    assumes 200 units per mV."""
    def gain(line: re.Match) -> float:
        try:
            return float(line["adc_gain"] or 0)
        except ValueError:
            return 1.0  # not a number: wfdb's own reading stands
    return [i for i, line in enumerate(lines) if not gain(line)]


def _fixed_layout_with_gaps(layout: _Layout) -> bool:
    """A fixed layout (no layout segment of length 0 first) with a gap segment `~`."""
    segments = layout.segments or []
    return bool(segments) and segments[0][1] > 0 and any(name == "~" for name, _ in segments)


def _read_fixed_layout_with_gaps(path: Path, multi: Any) -> Any:
    """One record of a fixed-layout multi-segment record whose gap segments (`~`) are NaN:
    wfdb joins only a variable layout's gaps, and failed on these with "'NoneType' object has
    no attribute 'p_signal'"."""
    import copy

    template = next((seg for seg in multi.segments if seg is not None), None)
    if template is None:
        raise RecordError(path, "every segment is a gap (~): no signal")
    for i, seg in enumerate(multi.segments):
        if seg is None:
            gap = copy.copy(template)
            gap.p_signal = np.full((multi.seg_len[i], template.n_sig), np.nan)
            gap.sig_len = multi.seg_len[i]
            multi.segments[i] = gap
    return multi.multi_to_single(physical=True)


def _check_file_name(path: Path, name: str, what: str) -> None:
    """A header names files beside itself; a path that could point anywhere else is refused."""
    try:
        parts = relative_parts(name)
    except UnsafePathError as exc:
        raise RecordError(path, f"{what} name {name!r} refused: {exc}") from None
    if len(parts) != 1:
        raise RecordError(path, f"{what} name {name!r} refused: not a file beside the header")


def _check_signal_files(path: Path, folder: Path, layout: _Layout) -> None:
    """Every signal file exists and holds at least the bytes the header declares."""
    if layout.sig_len is not None:
        check_size(path, float(layout.sig_len) * sum(layout.frames))
        longest = max(layout.skews, default=0)
        if longest > layout.sig_len:  # wfdb would allocate sig_len + skew samples per channel
            raise RecordError(path, f"skew of {longest} samples is longer than the record "
                                    f"({layout.sig_len} samples)")
    per_file: dict[str, list[int]] = {}
    for i, name in enumerate(layout.files):
        per_file.setdefault(name, []).append(i)
    for name, channels in per_file.items():
        if name == "~":
            continue
        _check_file_name(path, name, "signal file")
        file = folder / name
        if file.exists() and not file.is_file():  # a pipe would block the read
            raise RecordError(path, f"signal file {name} is not a regular file")
        if not file.is_file():
            raise RecordError(path, f"missing signal file {name}")
        first = channels[0]
        bytes_per_sample = BYTES_PER_SAMPLE.get(layout.fmts[first])
        if bytes_per_sample is None:
            raise RecordError(path, f"unsupported WFDB storage format {layout.fmts[first]!r}")
        if layout.sig_len is None or bytes_per_sample == 0:  # unknown length, or FLAC
            continue
        samples = layout.sig_len * sum(layout.frames[i] for i in channels)
        needed = layout.offsets[first] + math.ceil(samples * bytes_per_sample)
        size = file.stat().st_size
        if size < needed:
            raise RecordError(
                path, f"signal file {name} is truncated ({size} bytes, header needs {needed})"
            )


FORMAT16_NAN = -32768  # the value wfdb reads as a missing sample in format 16


def _read_format16(path: Path, base: Path, text: str) -> ECGRecord | None:
    """The common case (PTB-XL and most 12-lead exports) read with numpy instead of wfdb, whose
    header parser costs ~5 ms per record: one segment, every signal in format 16 with one sample
    per frame, no skew, explicit gain, baseline, units and name. Physical values are computed as
    `wfdb.rdrecord` computes them ((adc - baseline) / gain in float64, -32768 as NaN). None for
    anything else, which wfdb then reads; the header and signal files are already checked."""
    if not text.isascii():  # wfdb decodes headers as ASCII, dropping other bytes
        return None
    lines, comments = _header_lines(text)
    record = RX_RECORD.match(lines[0]) if lines else None
    if record is None or record["n_seg"] or not record["fs"] or not record["sig_len"]:
        return None
    n_sig, sig_len = int(record["n_sig"]), int(record["sig_len"])
    if n_sig == 0 or len(lines) != n_sig + 1:
        return None
    signals = [RX_SIGNAL.match(line) for line in lines[1:]]
    if any(not _plain_format16(m) for m in signals):
        return None
    try:
        fs = float(record["fs"])
        gains = np.array([float(m["adc_gain"]) for m in signals])
        baselines = np.array([int(m["baseline"] or m["adc_zero"]) for m in signals], dtype=float)
    except ValueError:
        return None
    if not np.all(np.isfinite(gains)) or np.any(gains == 0):
        return None

    digital = np.empty((sig_len, n_sig), dtype=np.int16)
    per_file: dict[str, list[int]] = {}
    for i, m in enumerate(signals):
        per_file.setdefault(m["file_name"], []).append(i)
    for name, channels in per_file.items():
        offsets = {int(signals[i]["byte_offset"] or 0) for i in channels}
        if not name or name.startswith("~") or len(offsets) != 1:
            return None
        count = sig_len * len(channels)
        try:
            data = np.fromfile(base.parent / name, dtype="<i2", count=count, offset=offsets.pop())
        except (OSError, ValueError):  # wfdb then reports the problem its usual way
            return None
        if data.size != count:
            return None
        digital[:, channels] = data.reshape(sig_len, len(channels))
    physical = (digital.astype(np.float64) - baselines) / gains
    physical[digital == FORMAT16_NAN] = np.nan
    channels_t = list(physical.T)
    names = [m["sig_name"] for m in signals]
    return assemble(
        path, names, [m["units"] for m in signals], [check_rate(path, fs)] * n_sig,
        [sig_len] * n_sig, lambda i: channels_t[i], "wfdb", _meta(comments),
    )


def _plain_format16(m: re.Match[str] | None) -> bool:
    return bool(
        m is not None and m["fmt"] == "16" and m["samps_per_frame"] in ("", "1")
        and m["skew"] in ("", "0") and m["adc_gain"] and (m["baseline"] or m["adc_zero"])
        and m["units"] and m["sig_name"]
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

