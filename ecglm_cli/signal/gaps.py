"""Missing samples (NaN): the policy for gaps.

- A record (all leads together) with more than `max_nan_fraction` (default 50 %) missing samples
  is rejected with `ValueError`: too little of it is real signal to describe.
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
    if x.size and missing.mean() > max_nan_fraction:
        raise ValueError(
            f"{missing.mean():.0%} of samples are missing (more than {max_nan_fraction:.0%})"
        )
    if not missing.any():
        return x
    x = x.copy()
    max_gap = int(round(max_gap_s * fs))
    rows = x.reshape(-1, x.shape[-1])
    for row in rows:
        _fill_row(row, max_gap)
    return rows.reshape(x.shape)


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
