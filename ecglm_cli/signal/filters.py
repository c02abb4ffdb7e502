"""Zero-phase Butterworth filters (baseline-wander removal, band-pass), so waves keep their timing.

Used by the measurements (QRS detection, delineation) and by scripts. Inputs must be free of
NaN (run `signal.gaps.fill_gaps` first); filtering runs along the last axis.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, sosfiltfilt


def remove_baseline(x: np.ndarray, fs: float, cutoff_hz: float = 0.5) -> np.ndarray:
    """High-pass at `cutoff_hz` (default 0.5 Hz) to remove baseline wander and DC offset."""
    return _filtfilt(_design(2, (cutoff_hz,), fs, "highpass"), x)


def bandpass(x: np.ndarray, fs: float, low_hz: float = 0.5, high_hz: float = 40.0,
             order: int = 4) -> np.ndarray:
    """Band-pass `low_hz`..`high_hz` (Butterworth of `order`, run forward and back); the upper
    edge is capped just below Nyquist."""
    high = min(high_hz, 0.45 * fs)
    if not 0 < low_hz < high:
        raise ValueError(f"band {low_hz}..{high_hz} Hz is empty at fs={fs} Hz")
    return _filtfilt(_design(order, (low_hz, high), fs, "bandpass"), x)


@lru_cache(maxsize=32)
def _design(order: int, edges: tuple[float, ...], fs: float, kind: str) -> np.ndarray:
    """Second-order sections, designed once per filter and rate (batch filters every record)."""
    return butter(order, edges if len(edges) > 1 else edges[0], btype=kind, fs=fs, output="sos")


def _filtfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """float32 in, float32 out; float64 stays float64 (the measurements work in float64)."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    if x.shape[-1] < 2:
        return x.astype(dtype)
    # short records: shrink the edge padding rather than fail
    padlen = min(3 * (2 * len(sos) + 1), x.shape[-1] - 1)
    return sosfiltfilt(sos, x.astype(np.float64), axis=-1, padlen=padlen).astype(dtype)
