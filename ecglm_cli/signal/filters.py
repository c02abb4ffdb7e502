"""Optional filters: baseline-wander removal and band-pass, zero-phase so waves keep their timing.

Inputs must be free of NaN (run `signal.gaps.fill_gaps` first); filtering runs along the last axis.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt


def remove_baseline(x: np.ndarray, fs: float, cutoff_hz: float = 0.5) -> np.ndarray:
    """High-pass at `cutoff_hz` (default 0.5 Hz) to remove baseline wander and DC offset."""
    sos = butter(2, cutoff_hz, btype="highpass", fs=fs, output="sos")
    return _filtfilt(sos, x)


def bandpass(x: np.ndarray, fs: float, low_hz: float = 0.5, high_hz: float = 40.0) -> np.ndarray:
    """Band-pass `low_hz`..`high_hz` (4th-order Butterworth, run forward and back); the upper
    edge is capped just below Nyquist."""
    high = min(high_hz, 0.45 * fs)
    if not 0 < low_hz < high:
        raise ValueError(f"band {low_hz}..{high_hz} Hz is empty at fs={fs} Hz")
    sos = butter(4, [low_hz, high], btype="bandpass", fs=fs, output="sos")
    return _filtfilt(sos, x)


def _filtfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] < 2:
        return x.astype(np.float32)
    # short records: shrink the edge padding rather than fail
    padlen = min(3 * (2 * len(sos) + 1), x.shape[-1] - 1)
    return sosfiltfilt(sos, x, axis=-1, padlen=padlen).astype(np.float32)
