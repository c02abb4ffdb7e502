"""Quality flags for a record: leads that are missing, flat, saturated, out of range or noisy.

Simple, documented per-lead checks (docs/output-schema.md lists them), cheap enough to run on
every record of a batch:

- missing: a standard lead that the file does not have, or whose samples are mostly NaN where
  some other lead is recorded (`signal.gaps.missing_share`);
- flat: the spread between the 5th and 95th percentile is below `FLAT_MV` (no ECG on the lead);
- saturated: the lead sits at one value, its own maximum or minimum and far (`CLIP_MIN_MV`) from
  its median, for a run of at least `CLIP_RUN_S` seconds: the plateau an amplifier or ADC leaves
  when it clips (a real R or S peak is never that flat);
- out of range: more than `OUT_OF_RANGE_SHARE` of the lead lies over `MAX_MV` from its median,
  where the model input is clipped: no ECG is that large, a wrong unit is (µV data labelled mV
  came out CD, HYP and SR at 1.0 with every lead clipped to a square wave and `ok` true);
- uncalibrated: a WFDB lead whose header gives a gain of 0 or none, which the format calls
  uncalibrated (its amplitudes rest on an assumed 200 units per mV: amplitude findings such as
  hypertrophy or low voltage mean nothing there);
- noisy: more than `NOISE_POWER_SHARE` of the lead's (mean-removed) power lies above 40 Hz, where
  an ECG has little and muscle and mains noise have much. Clean PTB-XL leads keep 99.9% of the time
  under 10%. Only checked for records sampled at more than 80 Hz. Baseline wander is not flagged:
  the model input removes it. A recording longer than `NOISE_BLOCK_S` is summed block by block.

Leads are checked one at a time in float32, so a 24-hour Holter record costs a few copies of
one lead, not of the whole record in float64.
"""

from __future__ import annotations

import numpy as np

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.signal.gaps import missing_share

FLAT_MV = 0.01
MAX_NAN_FRACTION = 0.5
CLIP_RUN_S = 0.03
CLIP_TOLERANCE = 1e-4  # of the lead's range: how close to the extreme counts as "at" it
CLIP_MIN_MV = 0.5
MAX_MV = 10.0  # the model input is clipped here (pipeline.prepare)
OUT_OF_RANGE_SHARE = 0.01
NOISE_FLOOR_HZ = 40.0
NOISE_POWER_SHARE = 0.2
NOISE_BLOCK_S = 60.0  # spectra of longer leads are summed over blocks this long
# the per-lead lists of `quality_flags`, in output order; all but the first make `ok` false
LEAD_FLAGS = ("missing_leads", "flat_leads", "saturated_leads", "out_of_range_leads",
              "noisy_leads", "uncalibrated_leads")


def quality_flags(record: ECGRecord) -> dict[str, object]:
    """Per-record flags; `ok` is true when no standard lead is flat, saturated, out of range,
    noisy or uncalibrated. A flag on another lead (MIT-BIH's chest lead `V` of unknown position)
    is listed but leaves `ok` alone: no model reads that lead, and v102s's noisy `V` made `ok`
    false beside a clean lead II."""
    fs = float(record.fs)
    missing = {lead for lead in STANDARD_LEADS if lead not in record.leads}
    flat, saturated, out_of_range, noisy = [], [], [], []
    shares = missing_share(record.signal)
    for lead, row, share in zip(record.leads, record.signal, shares, strict=True):
        gaps = np.isnan(row)
        if not row.size or share > MAX_NAN_FRACTION:
            missing.add(lead)
            continue
        x = np.where(gaps, np.nanmedian(row), row).astype(np.float32) if gaps.any() else row
        low5, median, high95 = np.percentile(x, [5, 50, 95])
        if high95 - low5 < FLAT_MV:
            flat.append(lead)
            continue
        if _clipped(x, float(median), fs):
            saturated.append(lead)
        if np.mean(np.abs(x - np.float32(median)) > MAX_MV) > OUT_OF_RANGE_SHARE:
            out_of_range.append(lead)
        if fs > 2 * NOISE_FLOOR_HZ and _noise_share(x, fs) > NOISE_POWER_SHARE:
            noisy.append(lead)
    uncalibrated = [lead for lead in record.meta.get("uncalibrated_leads", ())
                    if lead not in missing and lead not in flat]
    flagged = {*flat, *saturated, *out_of_range, *noisy, *uncalibrated}
    return {
        "missing_leads": [lead for lead in STANDARD_LEADS if lead in missing],
        "flat_leads": flat,
        "saturated_leads": saturated,
        "out_of_range_leads": out_of_range,
        "noisy_leads": noisy,
        "uncalibrated_leads": uncalibrated,
        "ok": not flagged.intersection(STANDARD_LEADS),
    }


def _clipped(x: np.ndarray, median: float, fs: float) -> bool:
    """Does the lead hold its maximum or minimum for at least `CLIP_RUN_S` seconds?"""
    run = max(3, int(round(CLIP_RUN_S * fs)))
    if x.size < run:
        return False
    low, high = float(x.min()), float(x.max())
    tolerance = CLIP_TOLERANCE * (high - low) + 1e-6
    for extreme in (low, high):
        if abs(extreme - median) < CLIP_MIN_MV:
            continue
        at_extreme = np.abs(x - np.float32(extreme)) <= tolerance
        if at_extreme.sum() >= run and _longest_run(at_extreme) >= run:
            return True
    return False


def _longest_run(flags: np.ndarray) -> int:
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if starts.size else 0


def _noise_share(x: np.ndarray, fs: float) -> float:
    """Share of the (mean-removed) power above `NOISE_FLOOR_HZ`: one FFT of the lead, or of
    each `NOISE_BLOCK_S` block of a longer one, summed."""
    block = max(int(NOISE_BLOCK_S * fs), 1)
    total = high = 0.0
    for start in range(0, x.size, block):
        part = x[start:start + block].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(part - part.mean())) ** 2
        freqs = np.fft.rfftfreq(part.size, d=1.0 / fs)
        total += float(spectrum[1:].sum())
        high += float(spectrum[freqs > NOISE_FLOOR_HZ].sum())
    return high / total if total > 0 else 0.0
