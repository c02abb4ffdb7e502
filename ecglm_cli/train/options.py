"""What every training run shares: data, folds, device, seed, resume and the optimiser basics.

`train encoder` and `train align`/`instruct` follow one data and fold convention (folds 1-8
train, fold 9 validates, fold 10 is never read), so the options that express it live here once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ecglm_cli.errors import ECGLMError
from ecglm_cli.models.weights import first_not_finite
from ecglm_cli.train.output_dir import OutputError


class TrainingDiverged(ECGLMError):
    """The training loss stopped being a number: nothing of that epoch is written."""


def check_loss(loss: float, what: str, lr: float) -> float:
    """`loss` when finite. A NaN or infinite loss ends the run before the epoch writes anything:
    with `--lr 1e12` both trainers saved all-NaN weights and exited 0, and `classify`/`ask`
    then answered from them (no findings, empty answers) without a word."""
    if not math.isfinite(loss):
        _diverged(f"the training loss became {loss} at {what}", lr)
    return loss


def check_weights(model: torch.nn.Module, what: str, lr: float,
                  stored_as: torch.dtype | None = None) -> None:
    """Before an epoch is written: its last step may have left weights or BatchNorm statistics
    that are no numbers, or (`stored_as`) too large for the type the bundle stores, though its
    loss was still finite. `--lr 10` wrote an encoder bundle whose running variances overflowed
    float16 to infinity, exit 0, and `classify` then refused it."""
    state = model.state_dict()
    if first_not_finite(state.items()):
        _diverged(f"the weights stopped being numbers in {what}", lr)
    if stored_as is not None:
        top = torch.finfo(stored_as).max
        if any(t.is_floating_point() and t.numel() and float(t.abs().max()) > top
               for t in state.values()):
            _diverged(f"the weights outgrew {str(stored_as).removeprefix('torch.')}, in which "
                      f"the bundle stores them, in {what}", lr)


def _diverged(what: str, lr: float) -> None:
    raise TrainingDiverged(f"{what} (peak learning rate {lr:g}); nothing of this epoch was "
                           "written: lower --lr, or --resume from the last written epoch")


def refuse_changed_options(checkpoint: Path, saved: dict, now: dict) -> None:
    """`--resume` with an option that shapes the run (a key of `now`) changed from `saved`, the
    checkpoint's: a usage error, raised before any record is read. A changed --lr or
    --batch-size was taken, and the run's record then described every epoch with the last
    call's values."""
    for key, value in now.items():
        if saved.get(key) != value:
            raise OutputError(f"{checkpoint}: cannot resume with a different "
                              f"--{key.removesuffix('_s').replace('_', '-')}")


def skipped_summary(skipped: dict[int, str]) -> str:
    """One line on the records a run left out: how many, and the first three with why."""
    examples = ", ".join(f"{ecg_id}: {why}" for ecg_id, why in list(skipped.items())[:3])
    return f"skipped {len(skipped)} listed records (missing or unreadable), e.g. {examples}"


def unknown_codes_warning(counts: dict[str, int]) -> str | None:
    """The warning for SCP codes the statement table does not define (`PTBXL.unknown_codes`):
    a typo in an edited table trained the record as having no such finding, without a word."""
    if not counts:
        return None
    listed = ", ".join(f"{code} ({n} record{'' if n == 1 else 's'})"
                       for code, n in sorted(counts.items())[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    return (f"ecglm: warning: SCP codes that scp_statements.csv does not define train as absent: "
            f"{listed}{more}")


# fold 9 of the shared PTB-XL subset holds 242 records; a run with --limit may hold a handful
FEW_VALIDATION_RECORDS = 100


def few_records_warning(records: int) -> str | None:
    """The warning for thresholds chosen on fewer than FEW_VALIDATION_RECORDS records: they fit
    those records (a statement seen once reads F1 1.0) and say little about new ones."""
    if records >= FEW_VALIDATION_RECORDS:
        return None
    return (f"ecglm: warning: thresholds and validation figures come from only {records} "
            f"validation record{'' if records == 1 else 's'}; with fewer than "
            f"{FEW_VALIDATION_RECORDS} they fit those records and will not hold on new ones")


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
        # absolute: "../shared/data/ptbxl" said nothing once read from another folder
        data["ptbxl"], data["out"] = str(Path(self.ptbxl).resolve()), str(self.out)
        data["train_folds"], data["val_folds"] = list(self.train_folds), list(self.val_folds)
        return data
