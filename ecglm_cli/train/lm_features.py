"""Frozen-encoder features for LM training, computed once per record and view.

View 0 of every record is exactly what `ask` computes (all windows, all leads, averaged). The
other views are single random windows read through random lead subsets, so the LM also learns
from the less certain evidence that short or partial recordings give, and does not learn to
trust the encoder's over-confident outputs on its own training records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ecglm_cli.data.ptbxl import PTBXL, PTBXLEntry
from ecglm_cli.errors import RecordError
from ecglm_cli.pipeline.ecg_features import encode_batch
from ecglm_cli.pipeline.prepare import array_windows, crop_or_pad, to_model_array

LEAD_SUBSETS = ([0], [1], [0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11])  # I, II, limb, precordial


@dataclass
class FeatureTable:
    """Features of many records: row `views[ecg_id][v]` of `tokens` / `logits` is view v."""

    tokens: torch.Tensor  # [R, K, D] float16
    logits: torch.Tensor  # [R, S] float32
    views: dict[int, list[int]]


def _random_mask(rng: np.random.Generator, present: np.ndarray) -> np.ndarray:
    choice = rng.random()
    if choice < 0.4:
        mask = present.copy()
    elif choice < 0.7:
        mask = np.zeros(12, dtype=bool)
        mask[LEAD_SUBSETS[rng.integers(len(LEAD_SUBSETS))]] = True
        mask &= present
    else:
        mask = present & (rng.random(12) < rng.uniform(0.2, 0.9))
    return mask if mask.any() else present


def _views(record, config, n_views: int, rng: np.random.Generator):
    """`(windows [W,12,T], mask [12], group)` per view; group ids say which windows to average."""
    x, present = to_model_array(record, config)
    windows = [array_windows(x, config)]
    masks = [np.repeat(present[None], len(windows[0]), axis=0)]
    for _ in range(n_views - 1):
        start = int(rng.integers(0, max(1, x.shape[1] - config.window + 1)))
        windows.append(crop_or_pad(x, config.window, start)[None])
        masks.append(_random_mask(rng, present)[None])
    groups = np.concatenate([np.full(len(w), i) for i, w in enumerate(windows)])
    return np.concatenate(windows), np.concatenate(masks), groups


def precompute_features(
    bundle,
    ptbxl: PTBXL,
    entries: list[PTBXLEntry],
    n_views: int,
    seed: int,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> FeatureTable:
    """Run the frozen encoder over every record's views; unreadable records are skipped."""
    rng = np.random.default_rng(seed)
    bundle.model.to(device).eval()
    tokens, logits, views = [], [], {}
    for entry in entries:
        try:
            record = ptbxl.record(entry)
            windows, masks, groups = _views(record, bundle.config, n_views, rng)
        except RecordError as exc:
            ptbxl.skipped[entry.ecg_id] = exc.problem
            continue
        tok, log = encode_batch(
            bundle, torch.from_numpy(windows).to(device), torch.from_numpy(masks).to(device)
        )
        g = torch.from_numpy(groups).to(device)
        rows = []
        for v in range(int(groups.max()) + 1):
            sel = g == v
            rows.append(len(tokens))  # one row per view
            tokens.append(tok[sel].mean(0, keepdim=True).half().cpu())
            logits.append(log[sel].mean(0, keepdim=True).cpu())
        views[entry.ecg_id] = rows
        if progress:
            progress(1)
    if not views:
        raise RecordError(ptbxl.root, "no readable records to compute features for")
    return FeatureTable(torch.cat(tokens), torch.cat(logits), views)
