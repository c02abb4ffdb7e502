"""A tiny, untrained classifier bundle built by the encoder's own code, so that tests of
`classify` and `batch` exercise real forward passes without the shipped model."""

from __future__ import annotations

from pathlib import Path

import torch

from ecglm_cli.models.bundle import save_bundle
from ecglm_cli.models.encoder import ECGClassifier, EncoderConfig

LABEL_SPACES = {
    "superdiagnostic": {
        "labels": ["CD", "HYP", "MI", "NORM", "STTC"],
        "descriptions": {
            "CD": "any of LAFB, IRBBB, 1AVB", "HYP": "left ventricular hypertrophy",
            "MI": "any of IMI, ASMI", "NORM": "normal ECG", "STTC": "any of NDT, ISC_",
        },
    },
    "diagnostic": {
        "labels": ["IMI", "LAFB", "NORM"],
        "descriptions": {
            "IMI": "inferior myocardial infarction", "LAFB": "left anterior fascicular block",
            "NORM": "normal ECG",
        },
    },
    "form": {
        "labels": ["LVOLT", "NDT"],
        "descriptions": {"LVOLT": "low QRS voltages", "NDT": "non-diagnostic T abnormalities"},
    },
    "rhythm": {"labels": ["AFIB", "SR"],
               "descriptions": {"AFIB": "atrial fibrillation", "SR": "sinus rhythm"}},
}


def make_tiny_bundle(out: Path, seed: int = 0) -> Path:
    """Write a width-4 ResNet bundle (thresholds 0.5) with the label spaces above to `out`."""
    torch.manual_seed(seed)
    config = EncoderConfig(
        width=4, blocks_per_stage=(1, 1, 1, 1), n_tokens=2, window_s=2.5, stride_s=2.5,
        label_counts={space: len(info["labels"]) for space, info in LABEL_SPACES.items()},
    )
    model = ECGClassifier(config).eval()
    thresholds = {space: [0.5] * len(info["labels"]) for space, info in LABEL_SPACES.items()}
    return save_bundle(out, model, LABEL_SPACES, thresholds, {}, {"note": "test bundle"})
