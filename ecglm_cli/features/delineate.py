"""Delineation of the median beat: global QRS onset/offset, P onset and T end.

All leads are combined before boundaries are placed, following the AHA/ACCF/HRS convention of
global intervals: the QRS runs from the earliest onset to the latest offset in any lead, which
is where the spatial velocity (the slope of all leads together) first rises above and finally
falls below a fraction of its QRS peak. T end uses the tangent method on the spatial magnitude;
the P onset is where the spatial P magnitude rises out of the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from ecglm_cli.features.qrs_detect import REFRACTORY_S

QRS_FRACTION = 0.06  # of the spatial-velocity peak above its floor that counts as QRS
QUIET_S = 0.016  # the QRS ends only after the velocity stays below threshold this long
P_SEARCH_S = 0.4  # the P wave is looked for this far before the QRS onset
P_BASE_S = 0.12  # the P onset lies at most this far before its peak
P_UPSTROKE_S = 0.04  # the P wave leaves the baseline at most this long before its upstroke
P_ONSET_SHARE = 0.02  # of the P height above its foot that marks the onset
P_OVERLAP_S = 0.12  # with long PR the P wave may start this far inside the previous T wave
P_MIN_MV = 0.04  # spatial P magnitude below this is no P wave
P_MIN_AGREEMENT = 0.3  # median beat-to-median correlation of the P segment (AF is lower)
P_MIN_AGREEMENT_IRREGULAR = 0.6  # the same when the RR intervals vary a lot
# Atrial flutter with 2:1 conduction: the atrial wave before each QRS recurs half an RR interval
# earlier (in the ST-T), same shape and size. Cycle 170-300 ms (350-200/min, drug-slowed
# included), so tested at 100-176 bpm. On PTB-XL folds 1-9 six of the seven AFLT records in 2:1
# correlate 0.91-0.99 (amplitude ratio 1.1-1.4) at 100 Hz and 500 Hz; no other record tested (36 at
# 100 Hz, 8 at 500 Hz: sinus tachycardia, SVT, AF) above 0.73, and none within the amplitude
# band above 0.21: a sinus P wave has the T wave there. For 3:1 and 4:1 (cycle RR/3, RR/4) the
# same test fires on sinus P waves against the flat TP segment, so it is not used there.
FLUTTER_CYCLE_S = (0.17, 0.30)
FLUTTER_MIN_CORR = 0.8  # correlation of the pre-QRS window with its copy RR/2 earlier
FLUTTER_AMPLITUDE = (0.5, 2.0)  # size of that copy over the window's: similar waves
FLUTTER_WINDOW_S = 0.12  # at most this much before the QRS onset is compared
FLUTTER_MIN_WINDOW_S = 0.06  # shorter windows (QRS too wide for the RR/2 gap) are not tested
T_MIN_MV = 0.05  # spatial T magnitude below this is no measurable T wave
T_DESCENT_S = 0.2  # the T wave ends within this time of its peak
ALIGN_HALF_S = 0.06  # the QRS stretch around R matched against the median QRS
ALIGN_SHIFT_S = 0.04  # how far matching may move a beat's fiducial
ALIGN_ROUNDS = 2  # the second round matches against the sharper median of the first


@dataclass
class Delineation:
    """Boundaries in samples of the beat window (None when not found) and why not."""

    qrs_on: int
    qrs_off: int
    p_on: int | None = None
    t_end: int | None = None
    p_amplitude: float = 0.0
    p_agreement: float = 0.0
    t_amplitude: float = 0.0
    net_area: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p_wave: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per lead at the P peak, mV
    reasons: dict[str, str] = field(default_factory=dict)


def median_beat(beats: np.ndarray) -> np.ndarray:
    """Sample-wise median over beats [leads, beats, samples] (a sort is faster than
    np.median on these small arrays)."""
    ordered = np.sort(beats, axis=1)
    n = beats.shape[1]
    if n % 2:
        return ordered[:, n // 2]
    return 0.5 * (ordered[:, n // 2 - 1] + ordered[:, n // 2])


def align_beats(clean: np.ndarray, r: np.ndarray, fs: float) -> np.ndarray:
    """R fiducials moved (at most ALIGN_SHIFT_S) to where each beat's QRS, all leads together,
    best matches the median QRS; sorted, one per complex.

    The detector's fiducial, the steepest point of the QRS, can fall on the R upstroke in one
    beat and on its downstroke in the next: their median beat then smears the QRS, which read
    30-90 ms too wide on clean normal records (PTB-XL 444: 128 ms at 100 Hz, 92 ms at 500 Hz)
    and lowered their signal quality to about 0.6.
    """
    half, reach = int(ALIGN_HALF_S * fs), int(ALIGN_SHIFT_S * fs)
    inner = (r - half - reach >= 0) & (r + half + reach < clean.shape[1])
    if inner.sum() < 3 or reach < 1:
        return r
    offsets, shifts = np.arange(-half, half + 1), np.arange(-reach, reach + 1)
    detected = r[inner]
    windows = sliding_window_view(clean, len(offsets), axis=1)  # [leads, start, width], a view
    starts = detected[:, None] + shifts[None, :] - half  # each beat's candidate windows
    moved = detected
    for _ in range(ALIGN_ROUNDS):
        template = median_beat(clean[:, moved[:, None] + offsets[None, :]])
        best = np.concatenate([  # in chunks of beats: a 30-minute record has thousands
            np.einsum("lbsw,lw->bs", windows[:, chunk], template).argmax(axis=1)
            for chunk in np.array_split(starts, max(1, len(starts) // 256))])
        moved = detected + shifts[best]
    fiducials = r.copy()
    fiducials[inner] = moved
    fiducials = np.unique(fiducials)
    if len(fiducials) > 1:  # two complexes on one: keep the first
        fiducials = fiducials[np.concatenate([[True], np.diff(fiducials) > REFRACTORY_S * fs])]
    return fiducials


def delineate(beats: np.ndarray, median: np.ndarray, r: int, rr: float, fs: float,
              irregular: bool = False) -> Delineation:
    """Delineate beats [leads, beats, samples] with their `median_beat`, aligned so the R
    fiducial is sample `r`; `rr` is the median RR interval in samples. With an `irregular`
    rhythm the P wave must agree better between beats before it counts (fibrillatory waves
    do not)."""
    qrs_on, qrs_off = _qrs_bounds(median, r, fs)
    base = median[:, max(0, qrs_on - int(0.02 * fs)):max(1, qrs_on - int(0.004 * fs))]
    baseline = base.mean(axis=1, keepdims=True)
    corrected = median - baseline
    out = Delineation(qrs_on=qrs_on, qrs_off=qrs_off,
                      net_area=corrected[:, qrs_on:qrs_off + 1].sum(axis=1) / fs)
    _t_end(out, corrected, r, rr, fs)
    _p_onset(out, median, beats, r, rr, fs,
             P_MIN_AGREEMENT_IRREGULAR if irregular else P_MIN_AGREEMENT)
    if out.p_on is not None and _two_atrial_waves_per_beat(out, median, rr, fs):
        out.p_on = None
        out.reasons["p_on"] = "no single P wave before each QRS (possible atrial flutter)"
    return out


def _qrs_bounds(median: np.ndarray, r: int, fs: float) -> tuple[int, int]:
    velocity = np.sqrt((np.gradient(median, axis=1) ** 2).sum(axis=0))
    floor = float(np.percentile(velocity, 10))
    near = slice(max(0, r - int(0.06 * fs)), r + int(0.06 * fs) + 1)
    peak = float(velocity[near].max())
    quiet = velocity < floor + QRS_FRACTION * (peak - floor)
    run = max(1, int(round(QUIET_S * fs)))
    # quiet_run[i]: samples i..i+run-1 are all quiet
    counts = np.convolve(quiet.astype(int), np.ones(run, dtype=int), mode="valid")
    quiet_run = np.concatenate([counts == run, np.zeros(run - 1, dtype=bool)])
    lo = max(0, r - int(0.2 * fs))
    before = np.flatnonzero(quiet_run[lo:r])
    qrs_on = lo + int(before[-1]) + run - 1 if len(before) else lo
    hi = min(len(velocity), r + int(0.25 * fs))
    after = np.flatnonzero(quiet_run[r:hi])
    qrs_off = r + int(after[0]) if len(after) else hi - 1
    return qrs_on, qrs_off


def _t_end(out: Delineation, corrected: np.ndarray, r: int, rr: float, fs: float) -> None:
    """Tangent method on the spatial magnitude: steepest descent after the T peak, extended
    to the level the magnitude settles at."""
    magnitude = uniform_filter1d(np.sqrt((corrected**2).sum(axis=0)), max(1, int(0.02 * fs)))
    lo = out.qrs_off + int(0.06 * fs)
    hi = min(len(magnitude) - 1, r + int(min(0.6 * fs, rr - 0.08 * fs)))
    if hi - lo < int(0.08 * fs):
        out.reasons["t_end"] = "T wave not separable from the next beat"
        return
    peak = lo + int(np.argmax(magnitude[lo:hi]))
    tail = min(hi, peak + int(T_DESCENT_S * fs))
    level = float(magnitude[peak:tail + 1].min())
    out.t_amplitude = float(magnitude[peak] - level)
    if out.t_amplitude < T_MIN_MV:
        out.reasons["t_end"] = "no measurable T wave"
        return
    slope = np.gradient(magnitude)
    steep = peak + int(np.argmin(slope[peak:tail + 1]))
    if slope[steep] >= 0:
        out.reasons["t_end"] = "T wave end not found"
        return
    end = steep + (level - magnitude[steep]) / slope[steep]
    out.t_end = int(round(min(max(end, steep), tail)))


def _p_onset(out: Delineation, median: np.ndarray, beats: np.ndarray, r: int, rr: float,
             fs: float, min_agreement: float) -> None:
    """P onset from the spatial P magnitude against the PR-segment level: the most prominent
    bump before the QRS, its onset where it rises out of the baseline before its steepest
    upstroke. Absent when too
    small or when the beats disagree on it (fibrillation, noise)."""
    hi = out.qrs_on - int(0.02 * fs)
    previous_t = (out.t_end if out.t_end is not None else r + int(0.45 * rr)) - int(rr)
    search = int(P_SEARCH_S * fs)
    lo = max(0, out.qrs_on - search, previous_t - int(P_OVERLAP_S * fs))
    if hi - lo < int(0.08 * fs):
        out.reasons["p_on"] = "P wave not separable from the preceding T wave"
        return
    level = median[:, hi - int(0.012 * fs):hi + 1].mean(axis=1, keepdims=True)
    segment = median[:, lo:hi + 1] - level
    magnitude = uniform_filter1d(np.sqrt((segment**2).sum(axis=0)), max(1, int(0.02 * fs)))
    peaks, props = find_peaks(magnitude, prominence=0.0, wlen=int(P_BASE_S * 2 * fs) | 1)
    out.p_agreement = _segment_agreement(beats[:, :, lo:hi + 1], segment)
    if len(peaks) == 0:
        out.reasons["p_on"] = "no P waves found (possible AF)"
        return
    # a bump after the previous beat's T end is preferred: in sinus tachycardia the T wave's
    # tail, inside the search window, outweighed the P wave, and half of the PTB-XL STACH
    # records got a PR over 220 ms (392 ms at 105 bpm). Inside the T wave only when nothing
    # after it stands out (a long PR puts the P wave on the T).
    clear = np.flatnonzero((peaks >= previous_t - lo) & (props["prominences"] >= P_MIN_MV))
    pool = clear if len(clear) else np.arange(len(peaks))
    best = int(pool[np.argmax(props["prominences"][pool])])
    peak, base = int(peaks[best]), int(props["left_bases"][best])
    out.p_amplitude = float(props["prominences"][best])
    if out.p_amplitude < P_MIN_MV or out.p_agreement < min_agreement:
        out.reasons["p_on"] = "no P waves found (possible AF)"
        return
    # the P wave leaves the baseline where it last sits within a small share of its height
    # above the lowest point just before its steepest upstroke
    steep = base + int(np.argmax(np.gradient(magnitude)[base:peak + 1]))
    first = max(base, steep - int(P_UPSTROKE_S * fs))
    foot = first + int(np.argmin(magnitude[first:steep + 1]))
    rise = magnitude[foot:steep + 1] - magnitude[foot]
    below = np.flatnonzero(rise < P_ONSET_SHARE * (magnitude[peak] - magnitude[foot]))
    onset = foot + int(below[-1])
    if onset <= 1 and lo == out.qrs_on - search:
        # still rising where the search stops: a PR of at least P_SEARCH_S, or no P wave at all
        # (on PTB-XL folds 1-9, 7 normal ECGs and 3 in AF got a PR of 392-400 ms this way)
        out.reasons["p_on"] = f"P wave onset not found within {P_SEARCH_S * 1000:.0f} ms of the QRS"
        return
    out.p_on = lo + onset
    out.p_wave = segment[:, peak]


def _two_atrial_waves_per_beat(out: Delineation, median: np.ndarray, rr: float,
                               fs: float) -> bool:
    """Whether the wave just before the QRS recurs, same shape and size, half an RR interval
    earlier at a flutter cycle (2:1 atrial flutter): then it is a flutter wave, not a P wave,
    and the PR the "P onset" would give means nothing."""
    lag = int(round(rr / 2))
    if not FLUTTER_CYCLE_S[0] * fs <= rr / 2 <= FLUTTER_CYCLE_S[1] * fs:
        return False
    hi = out.qrs_on - int(0.008 * fs)
    # both windows clear of a QRS: the earlier one starts after the previous beat's QRS ends
    width = min(int(FLUTTER_WINDOW_S * fs), lag - (out.qrs_off - out.qrs_on) - int(0.016 * fs))
    lo = hi - width
    if width < int(FLUTTER_MIN_WINDOW_S * fs) or lo - lag < 0:
        return False
    wave = median[:, lo:hi] - median[:, lo:hi].mean(axis=1, keepdims=True)
    twin = median[:, lo - lag:hi - lag] - median[:, lo - lag:hi - lag].mean(axis=1, keepdims=True)
    size, twin_size = float(np.sqrt((wave**2).sum())), float(np.sqrt((twin**2).sum()))
    if size == 0 or twin_size == 0:
        return False
    correlation = float((wave * twin).sum()) / (size * twin_size)
    return (correlation >= FLUTTER_MIN_CORR
            and FLUTTER_AMPLITUDE[0] <= twin_size / size <= FLUTTER_AMPLITUDE[1])


def _segment_agreement(beats: np.ndarray, template: np.ndarray) -> float:
    """Median over beats of the correlation of one window (all leads together) with the
    median beat's window."""
    b = beats - beats.mean(axis=-1, keepdims=True)
    t = template - template.mean(axis=-1, keepdims=True)
    num = np.einsum("lbs,ls->b", b, t)
    den = np.sqrt(np.einsum("lbs,lbs->b", b, b) * float((t**2).sum()))
    corr = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return float(np.median(corr))
