"""`measure(record)`: beats, rate, intervals, axis and signal quality of one ECG record."""

from __future__ import annotations

import numpy as np

from ecglm_cli.features.delineate import align_beats, delineate, median_beat
from ecglm_cli.features.intervals import (
    ALL_UNITS,
    interval_entries,
    missing,
    rhythm_entries,
    value,
)
from ecglm_cli.features.qrs_detect import detect_qrs
from ecglm_cli.features.quality import beat_agreement, usable_leads
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.signal.filters import bandpass
from ecglm_cli.signal.resample import resample

WORK_FS = 250.0  # every record is analysed at this rate (4 ms resolution)
MIN_DURATION_S = 4.0
MIN_FS = 50.0  # below this the QRS itself is not resolved
# Beats spanning less of the signal than this (the rest lost or noise) lower every confidence
# in proportion, and the note says so: a rate from 168 beats of a 900 s record was reported
# with the record's full confidence.
MIN_COVERAGE = 0.5
MAX_DURATION_S = 1800.0  # longer records: the first 30 minutes are measured
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
    usable, lead_reasons = usable_leads(np.asarray(record.signal, dtype=np.float64))
    per_lead: dict[str, object] = {lead: 0.0 for lead in leads}
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
    raw = np.nan_to_num(np.asarray(record.signal[usable, :n_keep], dtype=np.float64),
                        posinf=0.0, neginf=0.0)
    x = resample(raw, fs, WORK_FS).astype(np.float64)
    clean = bandpass(x, WORK_FS, 0.5, 40.0, order=2)
    r = align_beats(clean, detect_qrs(x, WORK_FS), WORK_FS)
    pre, post = int(PRE_S * WORK_FS), int(POST_S * WORK_FS)
    inside = r[(r >= pre) & (r + post < clean.shape[1])]
    if len(r) < 3 or len(inside) < 2:
        return all_missing("no QRS complexes found")
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
    rate = 60.0 * WORK_FS / float(np.median(np.diff(r)))
    if quality < MIN_QUALITY or not RATE_LIMITS_BPM[0] <= rate <= RATE_LIMITS_BPM[1]:
        out = all_missing(f"no consistent QRS complexes (signal quality {quality:.2f})")
        out["signal_quality"] = quality_entry
        return out

    rr = float(np.median(np.diff(r)))
    covered = min(1.0, len(r) * rr / x.shape[1])  # share of the analysed signal with beats
    beat_conf = quality * min(1.0, len(r) / 5.0) * min(1.0, covered / MIN_COVERAGE)
    result.update(rhythm_entries(r, WORK_FS, beat_conf))
    irregular = float(np.std(np.diff(r)) / np.mean(np.diff(r))) > IRREGULAR_RR_CV
    clear = sqi >= MIN_QUALITY  # leads whose beats disagree (noise) would blur the boundaries
    d = delineate(beats[clear], median[clear], pre, rr, WORK_FS, irregular)
    clear_leads = [lead for lead, keep in zip(used, clear, strict=True) if keep]
    result.update(interval_entries(d, WORK_FS, rr / WORK_FS, clear_leads, beat_conf))
    result["beats"] = {"value": int(len(r)), "unit": "beats", "confidence": round(quality, 2)}
    result["signal_quality"] = quality_entry
    notes = []
    if covered < MIN_COVERAGE:
        notes.append(f"beats found in only {covered:.0%} of the signal measured; the values "
                     "come from those beats")
    if n_keep < record.n_samples:
        notes.append(f"first {MAX_DURATION_S / 60:.0f} minutes measured")
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _named(reasons: dict[int, str], leads: list[str]) -> dict[str, str]:
    return {leads[i]: why for i, why in reasons.items()}
