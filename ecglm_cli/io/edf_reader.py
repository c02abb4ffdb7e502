"""EDF, EDF+ and BDF files through pyedflib: ECG channels are kept by label, the rest dropped."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import (
    MAX_SAMPLES,
    UnusableChannel,
    assemble,
    check_size,
    short_reason,
)
from ecglm_cli.io.record import ECGRecord

_FILETYPES = {0: "edf", 1: "edf+", 2: "bdf", 3: "bdf+"}  # pyedflib's FILETYPE_* numbers
MAX_AGE = 120
# A file needing a plain-EDF copy (see `_opened`) larger than this holds more samples (24-bit at
# most) than a record may have anyway
MAX_COPY_BYTES = 3 * MAX_SAMPLES + 256 * 4097
_NONCOMPLIANT = "EDF(+) or BDF(+) compliant"  # edflib's words for a header it refuses


def read_edf(path: Path) -> ECGRecord:
    """Read the ECG channels of an EDF/EDF+/BDF file; the file is closed in every case."""
    if path.stat().st_size < 256:  # edflib says only "a read error occurred"
        raise RecordError(path, f"too short for an EDF header ({path.stat().st_size} bytes)")
    with _opened(path) as (edf, plus):
        n = edf.signals_in_file
        names = list(edf.getSignalLabels())
        units = [edf.getPhysicalDimension(i) for i in range(n)]
        try:
            rates = [edf.getSampleFrequency(i) for i in range(n)]
        except ZeroDivisionError:
            raise RecordError(path, "its data records last 0 s, so it has no sampling rate") \
                from None
        lengths = [int(v) for v in edf.getNSamples()]
        check_size(path, float(sum(lengths)))
        fmt = plus or _FILETYPES.get(edf.filetype, "edf")
        record = assemble(path, names, units, rates, lengths, lambda i: _read_channel(edf, i),
                          fmt, _meta(edf))
        if fmt in ("edf+", "bdf+") and not plus:  # pyedflib hides the annotation channel
            record.dropped.setdefault(
                "EDF Annotations", f"annotation channel ({edf.annotations_in_file} "
                                   "annotations), not a signal")
        return record


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Any, str | None]]:
    """pyedflib's reader on `path`, closed on leaving, and the EDF+/BDF+ format when it had to
    be read as plain EDF/BDF (else None).

    edflib refuses a whole EDF+C/BDF+C file whose patient or recording field breaks the EDF+
    conventions: free text such as "John Smith 45y", a lowercase sex, an ISO birth date. The
    signals do not depend on those fields, so such a file is read again from a temporary copy
    whose header no longer claims EDF+ (its annotation channel is then listed as dropped). A
    discontinuous EDF+D file is not: read as plain EDF its pieces would be joined.
    """
    copy_dir = None
    try:
        edf, plus = _open(path), None
    except RecordError as refused:
        with path.open("rb") as handle:
            mark = handle.read(197)[192:]
        if mark not in (b"EDF+C", b"BDF+C") or _NONCOMPLIANT not in refused.problem:
            raise
        if path.stat().st_size > MAX_COPY_BYTES:
            raise RecordError(path, f"{refused.problem}; too large to read as plain EDF") from None
        copy_dir = tempfile.TemporaryDirectory(prefix="ecglm-edf-")
        copy = Path(copy_dir.name) / path.name
        try:
            shutil.copyfile(path, copy)
            with copy.open("r+b") as handle:
                handle.seek(192)
                handle.write(b" " * len(mark))  # the reserved field now says plain EDF/BDF
            edf, plus = _open(copy), mark[:4].decode().lower()
        except (OSError, RecordError):
            copy_dir.cleanup()
            raise refused from None
        except BaseException:  # an interrupt while copying: no copy left behind
            copy_dir.cleanup()
            raise
    try:
        yield edf, plus
    finally:
        edf.close()
        if copy_dir is not None:
            copy_dir.cleanup()


def _open(path: Path) -> Any:
    import pyedflib

    try:
        with silenced_c_output():  # edflib prints some header complaints to stdout itself
            return pyedflib.EdfReader(str(path))
    except Exception as exc:  # pyedflib reports every header problem as OSError
        why = short_reason(exc).replace(f"{path}: ", "")
        raise RecordError(path, f"not a readable EDF/BDF file: {why}") from None


def _read_channel(edf: Any, i: int) -> np.ndarray:
    """Channel i in its physical unit. Samples outside the declared digital range are not
    valid EDF and become gaps (edflib would extrapolate them); a channel whose digital range is
    one value cannot be scaled at all."""
    low, high = edf.getDigitalMinimum(i), edf.getDigitalMaximum(i)
    if low == high:
        raise UnusableChannel(f"its digital minimum and maximum are both {low}, so its samples "
                              "cannot be scaled to a voltage")
    p_low, p_high = edf.getPhysicalMinimum(i), edf.getPhysicalMaximum(i)
    if not max(abs(p_low), abs(p_high), abs(p_high - p_low)) < np.finfo(np.float32).max:
        raise UnusableChannel(f"its physical range {p_low:g} to {p_high:g} is beyond any "
                              "voltage (check the gain or units)")
    digital = edf.readSignal(i, digital=True)
    outside = (digital < min(low, high)) | (digital > max(low, high))
    x = digital.astype(np.float32)  # exact for 16- and 24-bit samples; scaled in place below
    del digital
    x -= low
    x *= (p_high - p_low) / (high - low)
    x += p_low
    x[outside] = np.nan
    return x


def _meta(edf: Any) -> dict[str, Any]:
    """Sex and age from the EDF+ patient field, where present."""
    meta: dict[str, Any] = {"age": None, "sex": None, "comments": []}
    sex = str(_field(edf, "getSex") or "").strip().upper()[:1]
    meta["sex"] = sex if sex in ("M", "F") else None
    birth = _field(edf, "getBirthdate")
    start = _field(edf, "getStartdatetime")
    for fmt in ("%d %b %Y", "%d-%b-%Y", "%Y-%m-%d"):
        try:
            born = datetime.strptime(str(birth).strip(), fmt)
        except ValueError:
            continue
        age = int((start - born).days // 365.25) if isinstance(start, datetime) else -1
        if 0 <= age <= MAX_AGE:  # a birth date of 1850 is a placeholder, not an age of 169
            meta["age"] = age
        break
    extra = " ".join(str(_field(edf, m) or "") for m in ("getPatientAdditional",
                                                          "getRecordingAdditional")).strip()
    if extra:
        meta["comments"].append(extra)
    return meta


def _field(edf: Any, getter: str) -> Any:
    try:
        return getattr(edf, getter)()
    except Exception:  # optional header fields: absent or unreadable means unknown
        return None


@contextmanager
def silenced_c_output() -> Iterator[None]:
    """Send what C code writes to file descriptors 1 and 2 to /dev/null for a moment, so our
    stdout stays machine-readable and our stderr holds one line per error."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)

