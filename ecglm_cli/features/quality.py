"""Signal-quality index: which leads carry an ECG, and how alike their beats are.

A lead is unusable when it is missing (mostly NaN) or flat. For usable leads the index is the
median correlation of each beat's QRS region with the lead's median beat: a clean lead scores
near 1, noise that merely triggered the detector scores low.
"""

from __future__ import annotations

import numpy as np

from ecglm_cli.signal.gaps import missing_share
from ecglm_cli.signal.quality import FLAT_MV  # one definition of a flat lead

MAX_NAN_FRACTION = 0.2  # leads with more missing samples than this are left out


def measurable_leads(x: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Boolean mask of leads worth measuring, and the reason for each one left out (the leads
    a model reads are `pipeline.prepare.usable_leads`, with looser limits).

    Non-finite samples count as missing, but only where some other lead has samples: a stretch
    lost in every lead at once is a gap in the recording (measured around), not a fault of each
    lead. Counted over the whole record, a 3 s dropout in a 10 s record left out every lead.
    """
    reasons: dict[int, str] = {}
    nan_frac = missing_share(x)
    # a subsample is enough to tell a flat lead
    filled = np.nan_to_num(x[:, ::10], posinf=0.0, neginf=0.0)
    spread = np.percentile(filled, 95, axis=1) - np.percentile(filled, 5, axis=1)
    for i in range(x.shape[0]):
        if nan_frac[i] > MAX_NAN_FRACTION:
            reasons[i] = f"{nan_frac[i]:.0%} of samples missing"
        elif spread[i] < FLAT_MV:
            reasons[i] = "flat line"
    mask = np.ones(x.shape[0], dtype=bool)
    mask[list(reasons)] = False
    return mask, reasons


def beat_agreement(beats: np.ndarray, median: np.ndarray) -> np.ndarray:
    """Per-lead median correlation of beats [leads, beats, samples] with their median beat
    [leads, samples]."""
    centred = beats - beats.mean(axis=-1, keepdims=True)
    template = (median - median.mean(axis=-1, keepdims=True))[:, None, :]
    num = (centred * template).sum(axis=-1)
    den = np.sqrt((centred**2).sum(axis=-1) * (template**2).sum(axis=-1))
    corr = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(np.median(corr, axis=1), 0.0, 1.0)
