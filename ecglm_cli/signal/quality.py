"""Quality flags for a record: leads that are missing, flat, saturated or noisy.

Simple, documented per-lead checks (docs/output-schema.md lists them), cheap enough to run on
every record of a batch:

- missing: a standard lead that the file does not have, or whose samples are mostly NaN;
- flat: the spread between the 5th and 95th percentile is below `FLAT_MV` (no ECG on the lead);
- saturated: the lead sits at one value, its own maximum or minimum and far (`CLIP_MIN_MV`) from
  its median, for a run of at least `CLIP_RUN_S` seconds: the plateau an amplifier or ADC leaves
  when it clips (a real R or S peak is never that flat);
- noisy: more than `NOISE_POWER_SHARE` of the lead's (mean-removed) power lies above 40 Hz, where
  an ECG has little and muscle and mains noise have much. Clean PTB-XL leads keep 99.9% of the time
  under 10%. Only checked for records sampled at more than 80 Hz. Baseline wander is not flagged:
  the model input removes it.
"""

from __future__ import annotations

import numpy as np

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord

FLAT_MV = 0.01
MAX_NAN_FRACTION = 0.5
CLIP_RUN_S = 0.03
CLIP_TOLERANCE = 1e-4  # of the lead's range: how close to the extreme counts as "at" it
CLIP_MIN_MV = 0.5
NOISE_FLOOR_HZ = 40.0
NOISE_POWER_SHARE = 0.2


def quality_flags(record: ECGRecord) -> dict[str, object]:
    """Per-record flags; `ok` is true when no lead is flat, saturated or noisy."""
    x = np.asarray(record.signal, dtype=np.float64)
    fs = float(record.fs)
    missing = {lead for lead in STANDARD_LEADS if lead not in record.leads}
    flat, saturated, noisy = [], [], []
    nan_share = np.isnan(x).mean(axis=1) if x.shape[1] else np.ones(x.shape[0])
    x = np.where(np.isnan(x), np.nanmedian(x, axis=1, keepdims=True), x) if nan_share.any() else x
    usable = nan_share <= MAX_NAN_FRACTION
    low5, median, high95 = np.percentile(x, [5, 50, 95], axis=1) if x.shape[1] else (x[:, :0],) * 3
    clipped = _clipped(x, median, fs)
    noise = _noise_share(x, fs) if fs > 2 * NOISE_FLOOR_HZ else np.zeros(x.shape[0])
    for i, lead in enumerate(record.leads):
        if not usable[i]:
            missing.add(lead)
        elif high95[i] - low5[i] < FLAT_MV:
            flat.append(lead)
        else:
            if clipped[i]:
                saturated.append(lead)
            if noise[i] > NOISE_POWER_SHARE:
                noisy.append(lead)
    return {
        "missing_leads": [lead for lead in STANDARD_LEADS if lead in missing],
        "flat_leads": flat,
        "saturated_leads": saturated,
        "noisy_leads": noisy,
        "ok": not (flat or saturated or noisy),
    }


def _clipped(x: np.ndarray, median: np.ndarray, fs: float) -> np.ndarray:
    """Per lead: does it hold its maximum or minimum for at least `CLIP_RUN_S` seconds?"""
    run = max(3, int(round(CLIP_RUN_S * fs)))
    out = np.zeros(x.shape[0], dtype=bool)
    if x.shape[1] < run:
        return out
    low, high = x.min(axis=1), x.max(axis=1)
    tolerance = CLIP_TOLERANCE * (high - low) + 1e-6
    for extreme in (low, high):
        at_extreme = np.abs(x - extreme[:, None]) <= tolerance[:, None]
        candidates = (np.abs(extreme - median) >= CLIP_MIN_MV) & (at_extreme.sum(axis=1) >= run)
        for i in np.flatnonzero(candidates):  # rare: only leads with enough samples at a rail
            out[i] |= _longest_run(at_extreme[i]) >= run
    return out


def _longest_run(flags: np.ndarray) -> int:
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if starts.size else 0


def _noise_share(x: np.ndarray, fs: float) -> np.ndarray:
    """Per lead: share of the (mean-removed) power above `NOISE_FLOOR_HZ`, from one FFT."""
    spectrum = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)) ** 2
    total = spectrum[:, 1:].sum(axis=1)
    freqs = np.fft.rfftfreq(x.shape[1], d=1.0 / fs)
    high = spectrum[:, freqs > NOISE_FLOOR_HZ].sum(axis=1)
    return np.divide(high, total, out=np.zeros_like(total), where=total > 0)
