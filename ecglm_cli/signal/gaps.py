"""Missing samples (NaN): the policy for gaps.

- A record (all leads together) with more than `max_nan_fraction` (default 50 %) missing samples
  is rejected with `ValueError`: too little of it is real signal to describe. Only samples that
  some lead has count (`missing_share`): a stretch lost in every lead is a gap in the recording,
  which the windows policy deals with (a 30-minute record whose first 20 minutes were lost was
  refused, its last 10 minutes unscored).
- Gaps up to `max_gap_s` (default 0.2 s, shorter than a QRS-to-QRS interval) are filled by linear
  interpolation between the samples on either side (the nearest sample at a record edge).
- Longer gaps are set to the lead's median (its baseline), and leads with no valid sample at all
  to 0 mV, so they carry no made-up waveform. At 0 mV, a gap in a lead sitting at +3 mV was a
  -3 mV plateau once the baseline was removed.
"""

from __future__ import annotations

import numpy as np

MAX_GAP_S = 0.2
MAX_NAN_FRACTION = 0.5


def fill_gaps(
    x: np.ndarray,
    fs: float,
    max_gap_s: float = MAX_GAP_S,
    max_nan_fraction: float = MAX_NAN_FRACTION,
) -> np.ndarray:
    """`x` ([leads, samples] or [samples]) as float32 without NaN, following the policy above:
    a filled copy, or `x` itself when it has no gap (a long record is not copied for nothing)."""
    x = np.asarray(x, dtype=np.float32)
    missing = np.isnan(x)
    share = float(missing_share(x.reshape(-1, x.shape[-1])).mean()) if x.size else 0.0
    if share > max_nan_fraction:
        raise ValueError(f"{share:.0%} of samples are missing (more than {max_nan_fraction:.0%})")
    if not missing.any():
        return x
    x = x.copy()
    max_gap = int(round(max_gap_s * fs))
    rows = x.reshape(-1, x.shape[-1])
    for row in rows:
        _fill_row(row, max_gap)
    return rows.reshape(x.shape)


def missing_share(x: np.ndarray) -> np.ndarray:
    """Per lead of `x` [leads, samples], the share of its samples missing (NaN) among those some
    lead has: a stretch lost in every lead at once is a gap in the recording, not a fault of each
    lead. All ones when no lead has a sample. Lead by lead, so a long record is not copied."""
    recorded = np.zeros(x.shape[-1], dtype=bool)
    for row in x:
        recorded |= np.isfinite(row)
    n = int(recorded.sum())
    if n == 0:
        return np.ones(x.shape[0])
    return np.array([np.count_nonzero(~np.isfinite(row) & recorded) / n for row in x])


def _fill_row(row: np.ndarray, max_gap: int) -> None:
    gaps = np.isnan(row)
    if not gaps.any():
        return
    valid = np.flatnonzero(~gaps)
    if valid.size == 0:
        row[:] = 0.0
        return
    filled = np.interp(np.arange(row.size), valid, row[valid])
    baseline = np.median(row[valid])
    for start, stop in _runs(gaps):
        row[start:stop] = filled[start:stop] if stop - start <= max_gap else baseline


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))
