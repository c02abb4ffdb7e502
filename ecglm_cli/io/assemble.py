"""Turn raw channels from any reader into one validated `ECGRecord`.

Every reader ends here, so the rules live in one place: ECG channels are chosen by label,
channels at a rate no ECG is recorded at are dropped, the rest are scaled to mV, non-finite
samples and samples beyond ±100 V become NaN, channels at other rates are resampled to the
highest kept rate (refused when that would pass `MAX_SAMPLES`), channels with no valid sample
are dropped, and an empty or all-NaN result is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.channels import select_ecg_channels, unique_key, unit_scale
from ecglm_cli.io.record import ECGRecord

# Refuse records whose header promises more samples than this (all channels together): a
# corrupt or hostile header must not make us allocate gigabytes (float64 while reading: 800 MB).
# 24 h of 3 leads at 360 Hz fits.
MAX_SAMPLES = 100_000_000
MIN_RATE_HZ = 25.0
MAX_RATE_HZ = 100_000.0
# A sample beyond this is not an ECG voltage in mV (100 V): a wrong gain or unit. It becomes a
# gap, as non-finite samples do, which also keeps every kept value within float32's range.
MAX_ABS_MV = 100_000.0


class UnusableChannel(Exception):
    """Raised by a reader's `read_channel` for a channel whose samples cannot be turned into a
    voltage (an EDF channel with no digital range); `assemble` drops it with this reason."""


def check_size(path: object, n_samples: float) -> None:
    """Refuse absurd declared sizes before anything is allocated."""
    if not math.isfinite(n_samples) or n_samples > MAX_SAMPLES:
        raise RecordError(
            path, f"declares {n_samples:.0f} samples, more than the limit of {MAX_SAMPLES}"
        )


def check_rate(path: object, fs: object) -> float:
    """A sampling rate must be a finite positive number, and one an ECG is recorded at: below
    `MIN_RATE_HZ` no QRS complex survives, and resampling such a record to the model rate would
    multiply its size; above `MAX_RATE_HZ` it is not an ECG channel."""
    try:
        rate = float(fs)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RecordError(path, f"sampling rate {fs!r} is not a number") from None
    if not math.isfinite(rate) or rate <= 0:
        raise RecordError(path, f"sampling rate must be positive (got {fs})")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise RecordError(path, f"sampling rate {rate:g} Hz is outside the {MIN_RATE_HZ:g} Hz to "
                                f"{MAX_RATE_HZ / 1000:g} kHz of an ECG recording")
    return rate


def assemble(
    path: object,
    names: Sequence[str],
    units: Sequence[str],
    rates: Sequence[float],
    lengths: Sequence[int],
    read_channel: Callable[[int], np.ndarray],
    fmt: str,
    meta: dict[str, Any] | None = None,
) -> ECGRecord:
    """Build the record from channel `names`/`units`/`rates`/`lengths` (samples); `read_channel(i)`
    gives channel i in its physical unit, an array `assemble` may change in place. Only kept
    channels are read."""
    names = [str(n).strip() for n in names]
    if not names:
        raise RecordError(path, "file holds no signals")
    keep, leads, nonstandard, dropped = select_ecg_channels(names, list(units))
    if not keep:
        units_refused = [f"{n!r}: {why}" for n, why in dropped.items() if why.startswith("unit ")]
        if units_refused:  # leads by name, refused for their unit: say so, not "no ECG channel"
            raise RecordError(path, "no ECG channel in a voltage unit ("
                                    f"{'; '.join(units_refused[:3])})")
        raise RecordError(path, f"no ECG channel among {', '.join(repr(n) for n in names)}")
    problems: dict[int, str] = {}  # by channel: the first one's reason names the file's problem

    def drop(i: int, reason: str) -> None:
        dropped[unique_key(names[i], dropped)] = reason
        problems.setdefault(i, reason)

    at_rate = []  # a channel at a rate no ECG is recorded at is dropped, not the whole file
    for i, lead in zip(keep, leads, strict=True):
        try:
            at_rate.append((i, lead, check_rate(path, rates[i])))
        except RecordError as exc:
            drop(i, exc.problem)
    if not at_rate:
        raise RecordError(path, f"channel {names[keep[0]]!r}: {problems[keep[0]]}")
    first_copies = {lead: rate for _, lead, rate in reversed(at_rate)}
    fs = max(first_copies.values())
    if fs / min(first_copies.values()) > 1000:
        raise RecordError(path, "channel sampling rates differ by more than a factor of 1000")
    longest: dict[str, float] = {}  # per lead: its largest copy, in case that one is read
    for i, lead, rate in at_rate:
        longest[lead] = max(longest.get(lead, 0.0), float(lengths[i]) * fs / rate)
    resampled = sum(longest.values())
    if resampled > MAX_SAMPLES:  # a slow channel grows by up to 1000x at the record's rate
        raise RecordError(path, f"resampling its channels to {fs:g} Hz would give "
                                f"{resampled:.0f} samples, more than the limit of {MAX_SAMPLES}")

    # A lead's later copy is read only when every earlier one is unusable or wholly missing.
    read, implausible, found = [], set(), set()
    for i, lead, rate in at_rate:
        if lead in found:
            drop(i, f"duplicate of lead {lead}")
            continue
        if fs / rate > 1000:  # only a later copy can be this slow: fs came from first copies
            drop(i, f"sampling rate {rate:g} Hz is more than 1000 times below the record's")
            continue
        try:  # float32, as the record holds it; a value past its range becomes infinite
            x = np.array(read_channel(i), dtype=np.float32, copy=None).reshape(-1)
        except UnusableChannel as exc:
            drop(i, str(exc))
            continue
        with np.errstate(over="ignore"):
            x *= unit_scale(units[i])  # in place: a reader hands over its channel
        beyond = (x > MAX_ABS_MV) | (x < -MAX_ABS_MV)  # infinite too (NaN compares False)
        if beyond.any():
            if beyond.sum() == (~np.isnan(x)).sum():
                implausible.add(i)
            x[beyond] = np.nan
        x = _resample_with_gaps(x, rate, fs).astype(np.float32) if rate != fs else x
        read.append((i, lead, x))
        if not np.isnan(x).all():
            found.add(lead)
    if not read:
        first = at_rate[0][0]
        raise RecordError(path, f"channel {names[first]!r}: {problems[first]}")
    keep, leads, channels = (list(column) for column in zip(*read, strict=True))
    n = min(len(c) for c in channels)
    if n == 0:
        raise RecordError(path, "zero-length signal (no samples)")

    kept_leads, kept_names, kept_nonstandard, rows = [], [], [], []
    for i, lead, x in zip(keep, leads, channels, strict=True):
        if np.isnan(x[:n]).all():
            drop(i, f"every sample is beyond ±{MAX_ABS_MV:g} mV (check the gain or units)"
                 if i in implausible else "every sample is missing (NaN)")
            continue
        kept_leads.append(lead)
        kept_names.append(names[i])
        rows.append(x[:n])
        if lead in nonstandard:
            kept_nonstandard.append(lead)
    if not rows and implausible:
        raise RecordError(path, f"no ECG channel has a sample within ±{MAX_ABS_MV:g} mV (check "
                                "the gain or units)")
    if not rows:
        raise RecordError(path, "all-NaN signal (no valid sample in any ECG channel)")
    return ECGRecord(
        signal=np.stack(rows), fs=fs, leads=kept_leads,
        original_leads=kept_names, source=str(path), format=fmt, units=["mV"] * len(rows),
        nonstandard=kept_nonstandard, dropped=dropped, meta=dict(meta or {}),
    )


def _resample_with_gaps(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample a channel that may hold NaN: gaps stay gaps (at the nearest output samples)."""
    from ecglm_cli.signal.resample import resample  # scipy: imported only when needed

    gaps = np.isnan(x)
    if len(x) == 0:
        return x
    if not gaps.any():
        return resample(x, fs_in, fs_out).astype(np.float64)
    y = resample(np.where(gaps, 0.0, x), fs_in, fs_out).astype(np.float64)
    src = np.minimum((np.arange(len(y)) * fs_in / fs_out).round().astype(int), len(x) - 1)
    y[gaps[src]] = np.nan
    return y


def short_reason(exc: BaseException) -> str:
    """A library's exception as one short line, for messages that name the file."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
