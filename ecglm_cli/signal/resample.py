"""Polyphase resampling to the model rate."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample along the last axis with an anti-aliasing polyphase filter."""
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"sampling rates must be positive (got {fs_in} -> {fs_out})")
    if abs(fs_in - fs_out) < 1e-9:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # late: scipy.signal costs ~1 s to import

    # the denominator bound grows with the down-sampling factor, or 150 kHz -> 100 Hz would be
    # taken as 1/1000 (the time axis stretched 1.5x) and anything faster as 0
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000 * max(1, math.ceil(fs_in / fs_out)))
    if x.ndim == 2:  # one lead at a time: float64 copies of a long record's every lead add up
        return np.stack([resample(row, fs_in, fs_out) for row in x]) if len(x) else \
            np.zeros((0, 0), dtype=np.float32)
    # padded with the lead's median, not 0 mV: a lead's offset made a step at each end, which
    # rang through the filter (+-10 mV in the first samples of a lead at +300 mV, 2 mV at +5)
    y = resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator, axis=-1,
                      padtype="median")
    return y.astype(np.float32)
