"""Fixed-length inputs from recordings of any length: the windowing policy.

- `pad_or_crop(x, n)`: a shorter record is padded with 0 mV at the end; a longer one keeps its
  first `n` samples. Use it where one fixed-length view is wanted (a 10 s 12-lead ECG).
- `windows(x, fs, seconds, hop_s)`: a long recording is split into windows of `seconds`, starting
  every `hop_s` (default: `seconds`, no overlap). When the windows do not end exactly at the end of
  the recording, one more window is aligned to its end (overlapping the one before), so no sample
  is lost and no window is padded. A recording no longer than one window gives one padded window.
"""

from __future__ import annotations

import numpy as np


def pad_or_crop(x: np.ndarray, n: int) -> np.ndarray:
    """Make the last axis exactly `n` samples long (zero-pad at the end, or keep the start)."""
    if n <= 0:
        raise ValueError(f"window length must be positive (got {n})")
    length = x.shape[-1]
    if length >= n:
        return x[..., :n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - length)]
    return np.pad(x, pad)


def window_starts(length: int, n: int, hop: int) -> list[int]:
    """Start indices of the windows that cover `length` samples (see the module policy)."""
    if n <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive (got {n}, {hop})")
    if length <= n:
        return [0]
    starts = list(range(0, length - n + 1, hop))
    if starts[-1] + n < length:
        starts.append(length - n)
    return starts


def windows(x: np.ndarray, fs: float, seconds: float, hop_s: float | None = None) -> np.ndarray:
    """Split `x` [leads, samples] into `[n_windows, leads, round(seconds * fs)]`."""
    n = int(round(seconds * fs))
    hop = int(round((hop_s if hop_s is not None else seconds) * fs))
    return np.stack([pad_or_crop(x[..., s : s + n], n) for s in window_starts(x.shape[-1], n, hop)])
