"""Scoring PTB-XL folds with a classifier: shared by training (validation) and `ecglm evaluate`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ecglm_cli.data.ptbxl import PTBXL, PTBXLEntry
from ecglm_cli.errors import ModelError, RecordError
from ecglm_cli.models.encoder import ECGClassifier, EncoderConfig
from ecglm_cli.models.metrics import auc_per_label, f1_per_label, labelled, space_report
from ecglm_cli.models.predict import predict_windows
from ecglm_cli.pipeline.prepare import (
    array_windows,
    restrict_leads,
    to_model_array,
    usable_leads,
)
from ecglm_cli.signal.quality import quality_flags


@dataclass
class Split:
    """Model-rate arrays, masks and multi-hot labels of one set of folds."""

    arrays: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    labels: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def label_matrix(self, space: str) -> np.ndarray:
        return np.stack(self.labels[space])


def load_split(ds: PTBXL, entries: list[PTBXLEntry], config: EncoderConfig) -> Split:
    """Decode the records once and keep them in memory at model rate (the training cache);
    unreadable ones go to `ds.skipped`. The leads read are those `classify` reads: a flat or
    mostly missing lead is left out here too, or `evaluate` would score another input than
    users get."""
    split = Split(labels={space: [] for space in ds.label_spaces})
    for entry in entries:
        try:
            record = ds.record(entry)
            x, mask = to_model_array(record, config)
            mask = usable_leads(record, mask, None, quality_flags(record))
        except RecordError as exc:
            ds.skipped[entry.ecg_id] = exc.problem
            continue
        split.arrays.append(x)
        split.masks.append(mask)
        for space, vec in ds.labels(entry).items():
            split.labels[space].append(vec)
    return split


def predict_split(
    model: ECGClassifier, split: Split, config: EncoderConfig, leads: list[str] | None,
    device: torch.device | str = "cpu", batch_size: int = 128,
) -> dict[str, np.ndarray]:
    """Window-averaged probabilities for every record of a split, limited to `leads`."""
    items = [
        (array_windows(x, config), restrict_leads(mask, leads))
        for x, mask in zip(split.arrays, split.masks, strict=True)
    ]
    return predict_windows(model, items, batch_size=batch_size, device=device)


def split_report(
    split: Split, probs: dict[str, np.ndarray], thresholds: dict[str, np.ndarray]
) -> dict[str, dict]:
    """Macro AUC, macro F1 at the thresholds and Fmax for every label space."""
    return {
        space: space_report(split.label_matrix(space), probs[space], thresholds[space])
        for space in probs
    }


def label_report(
    split: Split, probs: dict[str, np.ndarray], thresholds: dict[str, np.ndarray],
    labels: dict[str, list[str]], descriptions: dict[str, dict[str, str]],
) -> list[dict]:
    """One row per statement: positives, AUC and F1 at its threshold, on the records with a
    label of its space."""
    rows = []
    for space, names in labels.items():
        y = split.label_matrix(space)
        scored = labelled(y)  # as in `space_report`: the records with a label of the space
        y, p = y[scored], probs[space][scored]
        aucs = auc_per_label(y, p)
        f1s = f1_per_label(y, p >= thresholds[space][None, :])
        for j, name in enumerate(names):
            rows.append({
                "space": space, "label": name,
                "description": descriptions[space].get(name, ""),
                "positives": int(y[:, j].sum()), "auc": float(aucs[j]), "f1": float(f1s[j]),
                "threshold": float(thresholds[space][j]),
            })
    return rows


@dataclass
class EvaluationResult:
    spaces: list[dict]
    labels: list[dict]
    skipped: dict[int, str]


def evaluate_ptbxl(
    model: str, root, folds: tuple[int, ...], leads: list[str], limit: int | None = None,
    device: str = "cpu",
) -> EvaluationResult:
    """Score a bundle on PTB-XL folds with only `leads` visible to the model, on `device`."""
    from ecglm_cli.models.bundle import load_bundle
    from ecglm_cli.models.device import resolve_device

    torch_device = resolve_device(device)  # before the records are read: fails at once
    bundle = load_bundle(model)
    ds = PTBXL(root)
    for space, info in bundle.label_spaces.items():
        if space not in ds.label_spaces or ds.label_spaces[space].labels != info["labels"]:
            raise ModelError(
                f"{bundle.path}: label space {space!r} differs from {root}/scp_statements.csv"
            )
    entries = ds.select(folds, limit)
    split = load_split(ds, entries, bundle.config)
    if not split.arrays:
        raise RecordError(root, f"no readable records in fold(s) {', '.join(map(str, folds))}")
    split.labels = {space: split.labels[space] for space in bundle.label_spaces}
    model = bundle.model.float().to(torch_device)  # where the inputs go; float32 as trained
    probs = predict_split(model, split, bundle.config, leads, torch_device)
    spaces = [{"space": space, **figures}
              for space, figures in split_report(split, probs, bundle.thresholds).items()]
    labels = label_report(
        split, probs, bundle.thresholds,
        {s: info["labels"] for s, info in bundle.label_spaces.items()},
        {s: info["descriptions"] for s, info in bundle.label_spaces.items()},
    )
    return EvaluationResult(spaces, labels, dict(ds.skipped))
