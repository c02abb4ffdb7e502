"""The only place where an `ECGRecord` becomes model input.

Steps: resample to the model rate, place the leads in `STANDARD_LEADS` order with a presence mask
(absent or all-NaN leads are zero rows with mask False), remove each lead's baseline (median),
clip to +-10 mV, then cut windows of the model's length. Gaps are filled before resampling
(`signal.gaps`: short ones bridged, long ones at the lead's median, its baseline). Units stay
millivolts, so amplitude findings (low voltage, hypertrophy) keep their meaning.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import MAX_SAMPLES
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.signal.gaps import fill_gaps
from ecglm_cli.signal.quality import MAX_MV
from ecglm_cli.signal.resample import resample
from ecglm_cli.signal.windows import pad_or_crop, window_starts

CLIP_MV = MAX_MV  # beyond it a lead is flagged out of range (signal.quality)
# A record with less than this share of the model's window recorded in the leads read is refused
# by `to_model_windows`: padded with 0 mV, a 2 s crop of a normal ECG came out conduction
# disturbance 0.96, and every 1-2 s crop of eight fold-9 records moved some superdiagnostic
# probability by 0.8 on average (3 s: 0.54, 4 s: 0.14, 4.5 s: 0.04). Training and `evaluate`
# take records as they are (a window may be set longer than PTB-XL's 10 s).
MIN_WINDOW_SHARE = 0.8

MAX_WINDOWS = 64  # bounds the work and memory one long recording can take
# With no window `MIN_WINDOW_SHARE` recorded, every window is scored, gaps filled at the baseline;
# beyond this share lost in every lead that is refused: 0.15 s of every 0.25 s lost (60 %) was
# scored MI 0.54 with `ok` true, where the whole record gives NORM 1.0.
MAX_LOST_SHARE = 0.5


class ModelInputSpec(Protocol):
    """What prepare needs from a model config (an `EncoderConfig` provides it)."""

    fs: float
    window: int
    stride: int


def to_model_array(record: ECGRecord, config: ModelInputSpec) -> tuple[np.ndarray, np.ndarray]:
    """Whole record at the model rate: `(x [12, N] float32, mask [12] bool)`."""
    n_in = record.signal.shape[1] if record.signal.ndim == 2 else 0
    if n_in == 0:
        raise RecordError(record.source, "record has no samples")
    rows = [i for i, lead in enumerate(record.leads) if lead in STANDARD_LEADS]
    if not rows:
        raise RecordError(record.source, "none of the 12 standard leads (I, II, III, aVR, aVL, "
                                         "aVF, V1-V6) that the model reads is present; leads "
                                         f"read: {', '.join(record.leads)}")
    n_out = math.ceil(n_in * config.fs / record.fs) * len(rows)
    if n_out > MAX_SAMPLES:  # a low rate is resampled up: bound what that allocates
        raise RecordError(record.source, f"{record.duration:.0f} s of {len(rows)} leads is "
                                         f"{n_out} samples at the model rate, more than the "
                                         f"limit of {MAX_SAMPLES}")
    raw = record.signal if len(rows) == len(record.leads) else record.signal[rows]
    empty = ~np.isfinite(raw).any(axis=1)
    try:  # before resampling: a NaN would smear over the whole filter length
        raw = fill_gaps(raw, record.fs)
    except ValueError as exc:
        raise RecordError(record.source, str(exc)) from None
    signal = resample(raw, record.fs, config.fs)
    x = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=np.float32)
    mask = np.zeros(len(STANDARD_LEADS), dtype=bool)
    for row, i in enumerate(rows):
        slot = STANDARD_LEADS.index(record.leads[i])
        lead = signal[row]
        finite = np.isfinite(lead)
        if mask[slot] or empty[row] or not finite.any():
            continue  # keep the first copy of a duplicated lead; skip an empty one
        centred = np.where(finite, lead - np.median(lead[finite]), 0.0)
        x[slot] = np.clip(centred, -CLIP_MV, CLIP_MV)
        mask[slot] = True
    if not mask.any():
        raise RecordError(record.source, "every standard lead is empty (all NaN)")
    return x, mask


def crop_or_pad(x: np.ndarray, length: int, start: int = 0) -> np.ndarray:
    """`x[:, start:start+length]`, zero-padded at the end when the record is shorter."""
    return np.ascontiguousarray(pad_or_crop(x[:, start:], length), dtype=np.float32)


def array_windows(x: np.ndarray, config: ModelInputSpec,
                  starts: list[int] | None = None) -> np.ndarray:
    """The inference windows of a model-rate array: `[W, 12, window]` (signal.windows policy),
    at `starts` (default: every window), at most `MAX_WINDOWS` of them (`spread`)."""
    if starts is None:
        starts = window_starts(x.shape[1], config.window, config.stride)
    return np.stack([crop_or_pad(x, config.window, s) for s in spread(starts)])


def spread(starts: list[int]) -> list[int]:
    """`starts`, or `MAX_WINDOWS` of them evenly spaced when there are more (a long recording)."""
    if len(starts) <= MAX_WINDOWS:
        return starts
    picks = np.linspace(0, len(starts) - 1, MAX_WINDOWS).round().astype(int)
    return [starts[i] for i in picks]


def coverage(starts: list[int], window: int, length: int) -> float:
    """Share of `length` samples inside at least one window starting at `starts`."""
    covered, end = 0, 0
    for start in sorted(starts):
        stop = min(start + window, length)
        covered += max(0, stop - max(start, end))
        end = max(end, stop)
    return covered / length if length else 0.0


def to_model_input(record: ECGRecord, config: ModelInputSpec) -> tuple[np.ndarray, np.ndarray]:
    """One centred window: `(x [12, window] float32, mask [12] bool)`."""
    x, mask = to_model_array(record, config)
    start = max(0, (x.shape[1] - config.window) // 2)
    return crop_or_pad(x, config.window, start), mask


class ModelWindows(NamedTuple):
    windows: np.ndarray  # [W, 12, T]
    mask: np.ndarray  # [12] bool: the leads read
    coverage: float  # share of the record inside a scored window (gaps and long records: < 1)


def to_model_windows(record: ECGRecord, config: ModelInputSpec, leads: list[str] | None,
                     quality: dict) -> ModelWindows:
    """What `classify`, `batch` and `ask` score: the windows of the leads the model reads
    (`usable_leads`) that hold signal in those leads (average the model outputs over them). A
    record with less than `MIN_WINDOW_SHARE` of a window recorded in them is refused, however
    long it is: 2.5 s of signal and 2.5 s of gap scored as the 2.5 s crop did. `coverage` says
    how much of the record the windows hold: 64 windows of 5 s are 0.4 % of a 24-hour Holter
    record, and the window count alone did not say so."""
    x, mask = to_model_array(record, config)
    mask = usable_leads(record, mask, leads, quality)
    recorded = _recorded(record, config.fs, x.shape[1], mask)
    needed = _needed(config)
    if recorded.sum() < needed:
        raise RecordError(record.source, f"record too short for the model "
                                         f"({recorded.sum() / config.fs:.2f} s recorded in the "
                                         f"leads read; at least {needed / config.fs:.1f} s "
                                         "needed)")
    # windows less than `MIN_WINDOW_SHARE` recorded are left out while another remains: scored
    # as a flat line, the last 3 s of a 10 s normal ECG missing in every lead took NORM from
    # 0.999 to 0.67 (0.999 on the 7 s alone)
    starts = window_starts(x.shape[1], config.window, config.stride)
    kept = [s for s in starts if recorded[s:s + config.window].sum() >= needed]
    lost = 1.0 - float(recorded.mean())
    if not kept and lost > MAX_LOST_SHARE:
        raise RecordError(record.source, f"{lost:.0%} of the samples are missing in every lead "
                                         f"read (more than {MAX_LOST_SHARE:.0%}), and no window "
                                         f"is {MIN_WINDOW_SHARE:.0%} recorded")
    chosen = spread(kept or starts)
    return ModelWindows(array_windows(x, config, chosen), mask,
                        coverage(chosen, config.window, x.shape[1]))


def _needed(config: ModelInputSpec) -> float:
    """Recorded samples a window (or the whole record) needs to be scored."""
    return MIN_WINDOW_SHARE * config.window


def _recorded(record: ECGRecord, fs: float, n: int, mask: np.ndarray) -> np.ndarray:
    """Per sample at the model rate `fs` (`n` of them): whether a lead read (`mask`) has it."""
    have = np.zeros(record.n_samples, dtype=bool)
    for lead, row in zip(record.leads, record.signal, strict=True):
        if lead in STANDARD_LEADS and mask[STANDARD_LEADS.index(lead)]:
            have |= np.isfinite(row)  # lead by lead: no copy of a long record's every lead
    at = np.minimum((np.arange(n) * (record.fs / fs)).astype(int), len(have) - 1)
    return have[at]


def restrict_leads(mask: np.ndarray, leads: list[str] | None) -> np.ndarray:
    """The mask limited to `leads` (for `--leads`); may come back all False, the caller checks."""
    if leads is None:
        return mask
    wanted = np.array([lead in leads for lead in STANDARD_LEADS])
    return mask & wanted


def usable_leads(record: ECGRecord, mask: np.ndarray, leads: list[str] | None,
                 quality: dict) -> np.ndarray:
    """The leads a model reads: present, among `leads` (`--leads`), and neither flat nor
    mostly missing by `quality` (`signal.quality.quality_flags`): a lead more than half NaN was
    listed under `missing_leads` and `leads_used` at once, and read as seconds of 0 mV (with
    V1-V6 90 % missing, record 152's STTC went from 0.96 to 0.54). Every command that scores a
    record refuses one with none, rather than answer from an empty input."""
    unusable = {*quality["flat_leads"], *quality["missing_leads"]}
    mask = restrict_leads(mask, leads) & np.array([lead not in unusable
                                                   for lead in STANDARD_LEADS])
    if not mask.any():
        wanted = ", ".join(leads) if leads else "the 12 standard leads"
        raise RecordError(record.source, f"no usable lead among {wanted} (absent, mostly "
                                         "missing or flat)")
    return mask
