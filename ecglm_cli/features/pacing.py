"""Pacemaker spikes: found and drawn out before the beats are measured.

A pacing spike is a pulse of a few milliseconds, far steeper than any QRS slope, that rises
and falls at once. Left in, it is taken for a beat (an atrial spike doubled the rate of a
70 bpm ECG to 143 bpm) or pulled into the QRS (QRS 104 -> 144 ms, QT 408 -> 448 ms). Each spike
is replaced by a straight line across it in every lead, so the beats it paced are measured as
they are. Recorders that low-pass their output (PTB-XL at 100 Hz) show no spike to find.
"""

from __future__ import annotations

import numpy as np

STEEP = 5.0  # a slope this many times the lead's 99.5th-percentile slope is no QRS slope
SPIKE_S = 0.004  # the rise and the fall of one spike lie within this of each other
MARGIN_S = 0.004  # the stretch drawn over reaches this far past the spike on each side


def remove_pacing_spikes(x: np.ndarray, fs: float) -> tuple[np.ndarray, int]:
    """`x` [leads, samples] with each pacing spike replaced by a straight line, and how many
    spikes there were."""
    slope = np.diff(x, axis=1)
    scale = np.percentile(np.abs(slope), 99.5, axis=1, keepdims=True)
    scale[scale == 0] = np.inf
    up, down = slope > STEEP * scale, slope < -STEEP * scale
    within = max(1, int(round(SPIKE_S * fs)))
    spike = np.zeros(slope.shape[1], dtype=bool)
    for lag in range(1, within + 1):  # a steep rise followed closely by a steep fall, or back
        spike[:-lag] |= ((up[:, :-lag] & down[:, lag:]) | (down[:, :-lag] & up[:, lag:])).any(0)
    if not spike.any():
        return x, 0
    starts = np.flatnonzero(spike & ~np.r_[False, spike[:-1]])  # one per run of spike samples
    stops = np.flatnonzero(spike & ~np.r_[spike[1:], False])
    margin = max(1, int(round(MARGIN_S * fs)))
    out = x.copy()
    for start, stop in zip(starts, stops, strict=True):
        lo, hi = max(0, start - margin), min(x.shape[1] - 1, stop + within + margin)
        weights = np.linspace(0.0, 1.0, hi - lo + 1)
        out[:, lo:hi + 1] = out[:, [lo]] + (out[:, [hi]] - out[:, [lo]]) * weights
    return out, len(starts)
