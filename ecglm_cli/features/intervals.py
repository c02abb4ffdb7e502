"""Turn detected beats and a delineated median beat into the `measurements` entries.

Every entry is `{"value", "unit", "confidence"}` or `{"value": None, "unit", "reason"}`; a
number is only given when the beat it comes from was actually found.
"""

from __future__ import annotations

import numpy as np

from ecglm_cli.features.axis import axis_degrees, frontal_vector
from ecglm_cli.features.delineate import Delineation

Entry = dict[str, object]
GAP_MS, GAP_RR = 3000.0, 3.0  # RR above both of these counts as a gap in the signal


def value(x: float, unit: str, confidence: float, digits: int = 0) -> Entry:
    """A measured value, rounded, with a confidence in [0, 1]."""
    number = round(float(x), digits) if digits else int(round(float(x)))
    return {"value": number, "unit": unit,
            "confidence": round(float(np.clip(confidence, 0.0, 1.0)), 2)}


def missing(unit: str, reason: str) -> Entry:
    """No value, and why."""
    return {"value": None, "unit": unit, "reason": reason}


def rhythm_entries(r_peaks: np.ndarray, fs: float, confidence: float,
                   bridged: np.ndarray | None = None) -> dict[str, Entry]:
    """Heart rate and RR statistics from the R fiducials (sample indices at `fs`); RR
    intervals marked in `bridged` (they span samples the recording lacks) are left out."""
    rr = np.diff(r_peaks) / fs * 1000.0
    if bridged is not None:
        rr = rr[~bridged]
    if len(rr):  # a stretch without beats this long is lost signal, not a pause to average
        rr = rr[rr <= max(GAP_MS, GAP_RR * float(np.median(rr)))]
    if len(rr) < 2:
        reason = "fewer than three beats detected"
        return {key: missing(unit, reason) for key, unit in _RHYTHM_UNITS.items()}
    return {
        "heart_rate": value(60000.0 / rr.mean(), "bpm", confidence, digits=1),
        "rr_mean": value(rr.mean(), "ms", confidence),
        "rr_sd": value(rr.std(ddof=1), "ms", confidence),
        "rr_min": value(rr.min(), "ms", confidence),
        "rr_max": value(rr.max(), "ms", confidence),
        "rr_range": value(rr.max() - rr.min(), "ms", confidence),
    }


_RHYTHM_UNITS = {"heart_rate": "bpm", "rr_mean": "ms", "rr_sd": "ms", "rr_min": "ms",
                 "rr_max": "ms", "rr_range": "ms"}
INTERVAL_UNITS = {"pr_interval": "ms", "qrs_duration": "ms", "qt_interval": "ms",
                  "qtc_bazett": "ms", "qtc_fridericia": "ms", "qrs_axis": "deg"}
ALL_UNITS = {**_RHYTHM_UNITS, **INTERVAL_UNITS}


def interval_entries(d: Delineation, fs: float, rr_s: float, leads: list[str],
                     confidence: float) -> dict[str, Entry]:
    """PR, QRS, QT, QTc and axis from the delineated median beat (indices at `fs`)."""
    ms = 1000.0 / fs
    out: dict[str, Entry] = {}
    if d.p_on is not None:
        p_conf = confidence * min(1.0, d.p_agreement / 0.6)
        out["pr_interval"] = value((d.qrs_on - d.p_on) * ms, "ms", p_conf)
    else:
        out["pr_interval"] = missing("ms", d.reasons.get("p_on", "no P waves found"))
    out["qrs_duration"] = value((d.qrs_off - d.qrs_on) * ms, "ms", confidence)
    if d.t_end is not None:
        qt = (d.t_end - d.qrs_on) * ms
        t_conf = confidence * min(1.0, d.t_amplitude / 0.15)
        out["qt_interval"] = value(qt, "ms", t_conf)
        out["qtc_bazett"] = value(qt / np.sqrt(rr_s), "ms", t_conf)
        out["qtc_fridericia"] = value(qt / np.cbrt(rr_s), "ms", t_conf)
    else:
        reason = d.reasons.get("t_end", "T wave end not found")
        for key in ("qt_interval", "qtc_bazett", "qtc_fridericia"):
            out[key] = missing("ms", reason)
    out["qrs_axis"] = _axis_entry(d, leads, confidence)
    return out


def _axis_entry(d: Delineation, leads: list[str], confidence: float) -> Entry:
    net = {lead: float(a) * 1000.0 for lead, a in zip(leads, d.net_area, strict=True)}  # mV*ms
    vec = frontal_vector(net)
    if vec is None:
        return missing("deg", "needs two limb leads (I and aVF, or two of I, II, III, aVR, "
                              "aVL, aVF)")
    size = float(np.hypot(*vec))
    if size < 1.0:  # under 1 mV*ms the complex is isoelectric in the frontal plane
        return missing("deg", "QRS is isoelectric in the frontal plane (indeterminate axis)")
    return value(axis_degrees(vec), "deg", confidence * min(1.0, size / 10.0))
