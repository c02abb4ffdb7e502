"""Multi-lead QRS detection: band-pass energy summed over leads, Pan-Tompkins thresholds.

Squaring the slope makes inverted leads count like upright ones; normalising each lead's
energy keeps one tall or noisy lead from drowning the others; the adaptive signal/noise levels
follow amplitude changes over long records, and a search-back recovers beats that a single
threshold misses after a pause.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from ecglm_cli.signal.filters import bandpass

REFRACTORY_S = 0.2  # no two QRS complexes closer than this
INTEGRATION_S = 0.1  # moving-window integration length (about one QRS)
SEARCHBACK_RR = 1.66  # look again for a missed beat after this many mean RR intervals
FIDUCIAL_S = 0.08  # the R fiducial is the slope-energy peak within this of the envelope peak


def slope_energy(x: np.ndarray, fs: float) -> np.ndarray:
    """Per-lead squared slope of the 5-18 Hz band, each lead scaled to its own QRS size."""
    band = bandpass(x, fs, 5.0, 18.0, order=2)
    energy = np.gradient(band, axis=-1) ** 2
    scale = np.percentile(energy[:, ::3], 99, axis=-1, keepdims=True)  # a subsample suffices
    energy = energy / np.where(scale > 0, scale, 1.0)
    return np.minimum(energy, 4.0)  # one artefact spike in one lead cannot dominate


def detect_qrs(x: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of R fiducials in `x` [leads, samples] (usable leads only)."""
    if x.shape[-1] < int(fs):
        return np.zeros(0, dtype=int)
    energy = slope_energy(x, fs).sum(axis=0)
    envelope = uniform_filter1d(energy, max(1, int(INTEGRATION_S * fs)), mode="nearest")
    candidates, props = find_peaks(envelope, distance=max(1, int(REFRACTORY_S * fs)),
                                   height=0.0)
    if len(candidates) == 0:
        return candidates
    beats = _threshold(candidates, props["peak_heights"], fs)
    return _fiducials(energy, beats, fs)


def _threshold(peaks: np.ndarray, heights: np.ndarray, fs: float) -> np.ndarray:
    """Pan-Tompkins signal/noise level tracking with search-back over candidate peaks."""
    first = heights[peaks < peaks[0] + 8 * fs]
    spk = float(np.percentile(first, 90))
    npk = float(np.percentile(first, 25))
    accepted: list[int] = []
    rr_mean = 0.0
    for i, (pos, h) in enumerate(zip(peaks, heights, strict=True)):
        thr = npk + 0.25 * (spk - npk)
        if accepted and rr_mean > 0 and pos - peaks[accepted[-1]] > SEARCHBACK_RR * rr_mean:
            gap = np.arange(accepted[-1] + 1, i)
            if len(gap):
                best = int(gap[np.argmax(heights[gap])])
                if heights[best] > 0.5 * thr:
                    accepted.append(best)
                    spk = 0.25 * heights[best] + 0.75 * spk
        if h > thr:
            accepted.append(i)
            spk = 0.125 * h + 0.875 * spk
            if len(accepted) >= 2:
                rr_mean = float(np.diff(peaks[accepted[-9:]]).mean())
        else:
            npk = 0.125 * h + 0.875 * npk
    return peaks[np.unique(accepted)]


def _fiducials(energy: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """Move each envelope peak to the steepest point of the QRS, a sharper alignment mark."""
    half = max(1, int(FIDUCIAL_S * fs))
    smooth = uniform_filter1d(energy, max(1, int(0.02 * fs)), mode="nearest")
    offsets = np.arange(-half, half + 1)
    idx = np.clip(beats[:, None] + offsets[None, :], 0, len(energy) - 1)
    fid = idx[np.arange(len(beats)), np.argmax(smooth[idx], axis=1)]
    fid = np.unique(fid)
    if len(fid) > 1:  # two envelope peaks that landed on one complex
        keep = np.concatenate([[True], np.diff(fid) > REFRACTORY_S * fs])
        fid = fid[keep]
    return fid
