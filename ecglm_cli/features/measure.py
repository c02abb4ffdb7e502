"""`measure(record)`: beats, rate, intervals, axis and signal quality of one ECG record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecglm_cli.features.delineate import align_beats, delineate, median_beat
from ecglm_cli.features.intervals import (
    ALL_UNITS,
    interval_entries,
    missing,
    rhythm_entries,
    value,
)
from ecglm_cli.features.lead_reversal import NOTE as ARMS_SWAPPED
from ecglm_cli.features.lead_reversal import arms_swapped
from ecglm_cli.features.pacing import remove_pacing_spikes
from ecglm_cli.features.qrs_detect import detect_qrs
from ecglm_cli.features.quality import beat_agreement, measurable_leads
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.signal.filters import bandpass
from ecglm_cli.signal.resample import resample

WORK_FS = 250.0  # every record is analysed at this rate (4 ms resolution)
MIN_DURATION_S = 4.0
MIN_FS = 50.0  # below this the QRS itself is not resolved
# below this the boundaries smear: resampled from 500 Hz to 60 Hz, ten PTB-XL records read QRS
# 44 ms longer on average (PR -32, QT +23); at 80 Hz within 8 ms. The rate and axis still hold.
MIN_INTERVAL_FS = 80.0
DURATION_KEYS = ("pr_interval", "qrs_duration", "qt_interval", "qtc_bazett", "qtc_fridericia")
# Beats spanning less of the signal than this (the rest lost or noise) lower every confidence
# in proportion, and the note says so: a rate from 168 beats of a 900 s record was reported
# with the record's full confidence.
MIN_COVERAGE = 0.5
MAX_DURATION_S = 1800.0  # longer records: the first 30 minutes are measured
MIN_GAP_S = 0.04  # missing stretches this long are gaps: no beat or RR interval spans them
MIN_QUALITY = 0.5  # below this median beat agreement the "beats" are not trusted
PRE_S, POST_S = 0.5, 0.65  # beat window around the R fiducial
QRS_WINDOW_S = 0.12  # half-width of the QRS region scored by the quality index
RATE_LIMITS_BPM = (20.0, 300.0)
IRREGULAR_RR_CV = 0.1  # RR standard deviation over mean above which the rhythm is irregular


def measure(record: ECGRecord) -> dict[str, object]:
    """The `measurements` section for `record`: every value with unit and confidence, or
    null with a reason. Never raises for odd signals (flat, noisy, short, missing leads)."""
    fs = float(record.fs)
    leads = list(record.leads)
    usable, lead_reasons = measurable_leads(np.asarray(record.signal, dtype=np.float64))
    # null until measured: an excluded lead's 0.0 read as "measured, and bad" (why it was left
    # out is in `excluded_leads`)
    per_lead: dict[str, object] = {lead: None for lead in leads}
    result: dict[str, object] = {}
    duration = record.n_samples / fs if fs > 0 else 0.0

    def all_missing(reason: str) -> dict[str, object]:
        out = {key: missing(unit, reason) for key, unit in ALL_UNITS.items()}
        out["beats"] = missing("beats", reason)
        out["signal_quality"] = {**missing("index", reason), "per_lead": per_lead,
                                 "excluded_leads": _named(lead_reasons, leads)}
        return out

    if fs < MIN_FS:
        return all_missing(f"sampling rate too low ({fs:g} Hz; at least {MIN_FS:g} Hz needed)")
    if duration < MIN_DURATION_S:
        return all_missing(f"record too short ({duration:.1f} s; at least "
                           f"{MIN_DURATION_S:.0f} s needed)")
    if not usable.any():
        return all_missing("no usable lead (all flat or missing)")

    n_keep = min(record.n_samples, int(MAX_DURATION_S * fs))
    sig = _prepare(np.asarray(record.signal[usable, :n_keep], dtype=np.float64), fs)
    if sig.recorded_s < MIN_DURATION_S:
        return all_missing(f"too little signal ({sig.recorded_s:.1f} s without missing "
                           f"samples; at least {MIN_DURATION_S:.0f} s needed)")
    x, clean, gap_before, lost_s = sig.x, sig.clean, sig.gap_before, sig.lost_s
    r = align_beats(clean, detect_qrs(x, WORK_FS), WORK_FS)
    qrs = int(QRS_WINDOW_S * WORK_FS)
    detected = len(r)
    r = r[~_overlaps(gap_before, r - qrs, r + qrs)]  # no QRS half lost, none made by a gap
    pre, post = int(PRE_S * WORK_FS), int(POST_S * WORK_FS)
    inside = r[(r >= pre) & (r + post < clean.shape[1])]
    inside = inside[~_overlaps(gap_before, inside - pre, inside + post)]
    if len(r) < 3 or len(inside) < 2:
        if lost_s and detected >= 3:  # the gaps, not the ECG, left too few beats
            return all_missing(f"too few beats clear of the gaps ({_seconds(lost_s)} of "
                               "missing samples)")
        return all_missing("no QRS complexes found")
    bridged = _overlaps(gap_before, r[:-1], r[1:])  # RR intervals across a gap
    window = np.arange(-pre, post + 1)
    beats = clean[:, inside[:, None] + window[None, :]]  # [leads, beats, samples]
    qrs_zone = slice(pre - int(QRS_WINDOW_S * WORK_FS), pre + int(QRS_WINDOW_S * WORK_FS) + 1)
    median = median_beat(beats)
    sqi = beat_agreement(beats[:, :, qrs_zone], median[:, qrs_zone])
    quality = float(np.median(sqi))
    used = [lead for lead, keep in zip(leads, usable, strict=True) if keep]
    per_lead.update({lead: round(float(q), 2) for lead, q in zip(used, sqi, strict=True)})
    quality_entry = {**value(quality, "index", 1.0, digits=2), "per_lead": per_lead,
                     "excluded_leads": _named(lead_reasons, leads)}
    intervals = np.diff(r)[~bridged]
    if len(intervals) < 2:
        out = all_missing("fewer than three beats in a row without missing samples")
        out["signal_quality"] = quality_entry
        return out
    rate = 60.0 * WORK_FS / float(np.median(intervals))
    if quality < MIN_QUALITY or not RATE_LIMITS_BPM[0] <= rate <= RATE_LIMITS_BPM[1]:
        out = all_missing(f"no consistent QRS complexes (signal quality {quality:.2f})")
        out["signal_quality"] = quality_entry
        return out

    rr = float(np.median(intervals))
    # share of the recorded signal (gaps aside) that the beats span
    covered = min(1.0, len(r) * rr / max(1, x.shape[1] - int(gap_before[-1])))
    beat_conf = quality * min(1.0, len(r) / 5.0) * min(1.0, covered / MIN_COVERAGE)
    result.update(rhythm_entries(r, WORK_FS, beat_conf, bridged))
    irregular = float(np.std(intervals) / np.mean(intervals)) > IRREGULAR_RR_CV
    clear = sqi >= MIN_QUALITY  # leads whose beats disagree (noise) would blur the boundaries
    d = delineate(beats[clear], median[clear], pre, rr, WORK_FS, irregular)
    clear_leads = [lead for lead, keep in zip(used, clear, strict=True) if keep]
    result.update(interval_entries(d, WORK_FS, rr / WORK_FS, clear_leads, beat_conf))
    if fs < MIN_INTERVAL_FS:
        reason = (f"sampling rate too low for wave boundaries ({fs:g} Hz; at least "
                  f"{MIN_INTERVAL_FS:g} Hz needed)")
        result.update({key: missing("ms", reason) for key in DURATION_KEYS})
    result["beats"] = {"value": int(len(r)), "unit": "beats", "confidence": round(quality, 2)}
    result["signal_quality"] = quality_entry
    notes = []
    if arms_swapped(clear_leads, d):
        notes.append(ARMS_SWAPPED)
    if covered < MIN_COVERAGE:
        notes.append(f"beats found in only {covered:.0%} of the signal measured; the values "
                     "come from those beats")
    if n_keep < record.n_samples:
        notes.append(f"first {MAX_DURATION_S / 60:.0f} minutes measured")
    if sig.spikes:
        notes.append(f"{sig.spikes} spike{'s' if sig.spikes > 1 else ''} narrower than 4 ms "
                     "(pacemaker-like) drawn out before measuring")
    bridged_leads = [f"{lead} {_seconds(h)}" for lead, h in zip(used, sig.holes_s, strict=True)
                     if h >= MIN_GAP_S]
    if bridged_leads:  # its quality index cannot show it: the line matches nothing, or fits
        notes.append(f"missing samples drawn in as straight lines ({', '.join(bridged_leads)})")
    if lost_s:
        notes.append(f"{_seconds(lost_s)} with missing samples (NaN) left out; no beat or "
                     "interval spans them")
    if notes:
        result["note"] = "; ".join(notes)
    return result


@dataclass
class _Signal:
    """The measured leads made ready: gaps and pacemaker spikes dealt with, at WORK_FS."""

    x: np.ndarray  # resampled, missing samples bridged, spikes drawn out
    clean: np.ndarray  # `x` band-passed 0.5-40 Hz
    gap_before: np.ndarray  # gap samples (at WORK_FS) before each index, one longer than `x`
    lost_s: float  # seconds missing in every lead (the gaps)
    recorded_s: float  # seconds not in a gap
    holes_s: np.ndarray  # per lead, seconds of its own missing samples (bridged)
    spikes: int  # pacemaker spikes drawn out


def _prepare(raw: np.ndarray, fs: float) -> _Signal:
    """`raw` [usable leads, samples] at `fs` made ready for beat detection. A stretch that no
    lead has is a gap, measured around; a hole in some leads only is bridged in those leads."""
    finite = np.isfinite(raw)
    recorded = finite.any(axis=0)  # some lead has the sample
    lost = _gaps(~recorded, fs)
    unpaced, spikes = remove_pacing_spikes(_bridge(raw, ~finite), fs)
    x = resample(unpaced, fs, WORK_FS).astype(np.float64)
    gap = lost[np.minimum(np.arange(x.shape[1]) * fs / WORK_FS, raw.shape[1] - 1).astype(int)]
    return _Signal(
        x=x, clean=bandpass(x, WORK_FS, 0.5, 40.0, order=2),
        gap_before=np.concatenate([[0], np.cumsum(gap)]),
        lost_s=float(lost.sum()) / fs, recorded_s=float((~lost).sum()) / fs,
        holes_s=(~finite & recorded).sum(axis=1) / fs, spikes=spikes,
    )


def _seconds(value: float) -> str:
    """3.0 s, or 45 ms below a tenth of a second (a 45 ms gap read "0.0 s")."""
    return f"{value:.1f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def _gaps(missing: np.ndarray, fs: float) -> np.ndarray:
    """The runs of `missing` samples long enough to hide a beat's QRS (MIN_GAP_S or more);
    shorter ones, such as single dropped samples, are only bridged."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    gap = np.zeros(len(missing), dtype=bool)
    for start, stop in zip(starts, stops, strict=True):
        if stop - start >= MIN_GAP_S * fs:
            gap[start:stop] = True
    return gap


def _bridge(x: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """`x` with its missing samples drawn as straight lines between the recorded ones: zeros
    would put a step at each end of a gap, which the filters ring on and the detector takes
    for beats (a 2 s gap moved the heart rate by up to 33 bpm)."""
    if not bad.any():
        return x
    out = x.copy()
    index = np.arange(x.shape[1])
    for row, holes in zip(out, bad, strict=True):
        if holes.any():
            row[holes] = np.interp(index[holes], index[~holes], row[~holes])
    return out


def _overlaps(gap_before: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Whether each span [start, stop] holds a gap sample (`gap_before`: their running count)."""
    last = len(gap_before) - 1
    return gap_before[np.clip(stop + 1, 0, last)] > gap_before[np.clip(start, 0, last)]


def _named(reasons: dict[int, str], leads: list[str]) -> dict[str, str]:
    return {leads[i]: why for i, why in reasons.items()}
