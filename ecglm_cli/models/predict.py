"""Scoring prepared records: windows go through the classifier in batches, probabilities are
averaged over each record's windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ecglm_cli.models.encoder import ECGClassifier


@torch.no_grad()
def predict_windows(
    model: ECGClassifier,
    items: Sequence[tuple[np.ndarray, np.ndarray]],
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """`items`: `(windows [W,12,T], mask [12])` per record. Returns space -> `[records, labels]`."""
    was_training = model.training
    model.eval()
    owners: list[int] = []
    xs: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for i, (windows, mask) in enumerate(items):
        for w in windows:
            owners.append(i)
            xs.append(w)
            masks.append(mask)
    sums = {s: np.zeros((len(items), h.out_features)) for s, h in model.heads.items()}
    for start in range(0, len(xs), batch_size):
        x = torch.from_numpy(np.stack(xs[start:start + batch_size])).to(device)
        m = torch.from_numpy(np.stack(masks[start:start + batch_size])).to(device)
        out = model(x, m)
        idx = np.asarray(owners[start:start + batch_size])
        for space, logits in out.items():
            np.add.at(sums[space], idx, torch.sigmoid(logits.float()).cpu().numpy())
        if progress:
            progress(len(idx))
    counts = np.bincount(np.asarray(owners, dtype=int), minlength=len(items))[:, None]
    model.train(was_training)
    return {space: total / np.maximum(counts, 1) for space, total in sums.items()}
