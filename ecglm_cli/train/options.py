"""What every training run shares: data, folds, device, seed, resume and the optimiser basics.

`train encoder` and `train align`/`instruct` follow one data and fold convention (folds 1-8
train, fold 9 validates, fold 10 is never read), so the options that express it live here once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(kw_only=True)
class RunOptions:
    ptbxl: Path
    out: Path
    epochs: int
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    batch_size: int = 64
    lr: float
    train_folds: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    val_folds: tuple[int, ...] = (9,)
    limit: int | None = None

    def to_dict(self) -> dict:
        """JSON-ready: paths as strings, folds as lists (checkpoints and bundle provenance)."""
        data = asdict(self)
        data["ptbxl"], data["out"] = str(self.ptbxl), str(self.out)
        data["train_folds"], data["val_folds"] = list(self.train_folds), list(self.val_folds)
        return data
