"""Re-choose a finished bundle's decision thresholds on the validation folds, without training.

`train encoder` chooses them after its epochs; this repeats that step from the bundle's own
(float16) weights, for a bundle made before a change to how thresholds are chosen or for other
validation folds, and rewrites its validation figures to match the new thresholds.
"""

from __future__ import annotations

import time
from pathlib import Path

from ecglm_cli.data.ptbxl import PTBXL
from ecglm_cli.errors import RecordError
from ecglm_cli.interrupts import interrupts_held
from ecglm_cli.models.bundle import copy_bundle, load_bundle, write_json
from ecglm_cli.models.device import resolve_device
from ecglm_cli.models.metrics import MIN_THRESHOLD
from ecglm_cli.pipeline.evaluate import load_split
from ecglm_cli.train.encoder import git_commit, lead_set_reports, validate


def rechoose_thresholds(bundle: str, ptbxl: Path, folds: tuple[int, ...], out: Path,
                        limit: int | None = None, device: str = "auto") -> tuple[Path, int]:
    """Write `thresholds.json` and `metrics.json` chosen on `folds` into OUT (a copy of the
    bundle, or the bundle itself); returns OUT and how many records they were chosen on.

    OUT is filled before any record is read, so an OUT that copy_bundle refuses costs no
    validation pass."""
    torch_device = resolve_device(device)
    loaded = load_bundle(bundle)
    target = copy_bundle(loaded.path, Path(out))
    ds = PTBXL(ptbxl)
    val = load_split(ds, ds.select(folds, limit), loaded.config)
    if not val.arrays:
        raise RecordError(ptbxl, f"no readable record in folds {list(folds)}")
    model = loaded.model.float().to(torch_device)  # as validated in training: float32
    thresholds, twelve = validate(model, val, loaded.config, torch_device)
    metrics = dict(loaded.metrics)
    metrics.update(folds=list(folds), lead_sets=lead_set_reports(
        model, val, loaded.config, torch_device, thresholds, twelve))
    metrics["thresholds_chosen"] = {
        "by": "ecglm train thresholds", "folds": list(folds), "records": len(val.arrays),
        "limit": limit, "min_threshold": MIN_THRESHOLD, "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with interrupts_held():  # Ctrl-C between the two left them from different choices
        write_json(target / "thresholds.json", {s: t.tolist() for s, t in thresholds.items()})
        write_json(target / "metrics.json", metrics)
    return target, len(val.arrays)
