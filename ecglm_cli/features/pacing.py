"""Pacemaker spikes: found and drawn out before the beats are measured.

A pacing spike is a pulse of a few milliseconds, far steeper than any QRS slope, that rises
and falls at once. Left in, it is taken for a beat (an atrial spike doubled the rate of a
70 bpm ECG to 143 bpm) or pulled into the QRS (QRS 104 -> 144 ms, QT 408 -> 448 ms). Each spike
is replaced by a straight line across it in every lead, so the beats it paced are measured as
they are. Below 250 Hz a spike is not resolved (it is one sample, or low-passed away, as in
PTB-XL at 100 Hz), while a sharp R peak rises and falls within one sample: spikes are only
looked for from 250 Hz on (at 100 Hz the search took R peaks of 38 PTB-XL records for spikes).
"""

from __future__ import annotations

import numpy as np

STEEP = 5.0  # a slope this many times the lead's 99.5th-percentile sustained slope: no QRS
SPIKE_S = 0.004  # the rise and the fall of one spike lie within this of each other
MARGIN_S = 0.004  # the stretch drawn over reaches this far past the spike on each side
MIN_FS = 250.0
# a pacemaker fires at most twice a beat; more "spikes" than this per second are noise (an
# upsampled noisy 2-lead record gave 1,237 in 5 minutes), and nothing is drawn out
MAX_PER_S = 6.0
ISOLATION_S = 0.05  # no other spike this close: steep steps in clusters are noise


def remove_pacing_spikes(x: np.ndarray, fs: float) -> tuple[np.ndarray, int]:
    """`x` [leads, samples] with each pacing spike replaced by a straight line, and how many
    spikes there were."""
    if fs < MIN_FS:
        return x, 0
    within = max(1, int(round(SPIKE_S * fs)))
    leads_seeing = np.zeros(max(0, x.shape[1] - 1), dtype=np.int16)
    kernel = np.ones(within + 1)
    for lead in x:  # one lead at a time: a 30-minute 1 kHz record is 170 MB per copy
        marked = _spike_slopes(lead, within)  # widened by a spike's width, so leads line up
        leads_seeing += np.convolve(marked, kernel, mode="full")[:len(marked)] > 0
    # a pacing spike reaches several leads at once (a bipolar lead's may show in V1 and V2
    # only); the sample noise of one small lead is no spike. With 3 leads or fewer, one will do.
    spike = leads_seeing >= (1 if x.shape[0] <= 3 else 2)
    if not spike.any():
        return x, 0
    starts = np.flatnonzero(spike & ~np.r_[False, spike[:-1]])  # one per run of marked steps
    stops = np.flatnonzero(spike & ~np.r_[spike[1:], False])
    # a pacing spike stands alone; steep steps in clusters are noise
    alone = np.diff(np.r_[-np.inf, starts, np.inf]) > ISOLATION_S * fs
    keep = alone[:-1] & alone[1:]
    starts, stops = starts[keep], stops[keep]
    if not len(starts) or len(starts) > MAX_PER_S * x.shape[1] / fs:
        return x, 0
    margin = max(1, int(round(MARGIN_S * fs)))
    out = x.copy()
    for start, stop in zip(starts, stops, strict=True):
        lo, hi = max(0, start - margin), min(x.shape[1] - 1, stop + within + margin)
        weights = np.linspace(0.0, 1.0, hi - lo + 1)
        out[:, lo:hi + 1] = out[:, [lo]] + (out[:, [hi]] - out[:, [lo]]) * weights
    return out, len(starts)


def _spike_slopes(lead: np.ndarray, within: int) -> np.ndarray:
    """Per sample step of `lead`: whether a steep rise and a steep fall (or the reverse) start
    within `within` steps of each other there. "Steep" is judged against the lead's sustained
    slopes, those that keep their sign longer than a spike lasts (QRS slopes): against all of
    its slopes, spikes common enough (dual-chamber pacing, 2 per beat) set the scale
    themselves and none was found."""
    slope = np.diff(lead)
    n = len(slope) - within
    found = np.zeros(len(slope), dtype=bool)
    if n < 2:
        return found
    low, high = slope[:n].copy(), slope[:n].copy()
    for lag in range(1, within + 1):  # the least rise and the least fall over within+1 steps
        np.minimum(low, slope[lag:lag + n], out=low)
        np.maximum(high, slope[lag:lag + n], out=high)
    sustained = np.maximum(np.maximum(low, 0.0), np.maximum(-high, 0.0))
    rank = int(0.995 * (n - 1))
    scale = float(np.partition(sustained, rank)[rank])
    if scale <= 0:
        return found
    up, down = slope > STEEP * scale, slope < -STEEP * scale
    for lag in range(1, within + 1):
        found[:-lag] |= (up[:-lag] & down[lag:]) | (down[:-lag] & up[lag:])
    return found
