"""`ecglm train encoder`: multi-label training of the variable-lead encoder on PTB-XL.

Reproducible from `--seed`: every random choice (order, crop, lead subset, amplitude) is drawn
from a generator keyed by (seed, epoch, record), so a resumed run continues exactly. Under
`torchrun` (WORLD_SIZE > 1) it trains with DistributedDataParallel; only rank 0 writes files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ecglm_cli.data.ptbxl import PTBXL
from ecglm_cli.errors import ECGLMError, ModelError
from ecglm_cli.interrupts import interrupts_held
from ecglm_cli.io.leads import LIMB_LEADS, PRECORDIAL_LEADS, STANDARD_LEADS
from ecglm_cli.models.bundle import STORED_DTYPE, save_bundle, write_json, write_text_atomically
from ecglm_cli.models.device import resolve_device
from ecglm_cli.models.encoder import ECGClassifier, EncoderConfig
from ecglm_cli.models.metrics import best_thresholds
from ecglm_cli.output import to_json_line
from ecglm_cli.pipeline.evaluate import Split, load_split, predict_split, split_report
from ecglm_cli.pipeline.prepare import crop_or_pad
from ecglm_cli.train.options import (
    RunOptions,
    check_loss,
    check_weights,
    few_records_warning,
    refuse_changed_options,
    skipped_summary,
    unknown_codes_warning,
)
from ecglm_cli.train.output_dir import EarlierRunError

CHECKPOINT_DIR = "checkpoint"
REPORT_LEAD_SETS = {
    "12": list(STANDARD_LEADS), "limb": list(LIMB_LEADS), "I": ["I"], "II": ["II"],
}


@dataclass(kw_only=True)
class TrainOptions(RunOptions):
    epochs: int = 40
    lr: float = 3e-3
    weight_decay: float = 0.01
    width: int = 64
    kernel_size: int = 5
    window_s: float = 5.0
    stride_s: float | None = None  # hop between inference windows; None: half the window
    dropout: float = 0.2
    keep: str = "best"  # "best": bundle of the best validation epoch; "last": of the last one

    def __post_init__(self) -> None:
        if self.stride_s is None:
            self.stride_s = self.window_s / 2


def sample_lead_mask(rng: np.random.Generator, available: np.ndarray) -> np.ndarray:
    """A random lead subset, always at least one available lead.

    All 12 (30%), lead I alone (15%), lead II alone (5%), another single lead (5%), the limb
    leads (15%), the precordial leads (10%) or each lead with p = 0.5 (20%). Single leads are
    frequent on purpose: lead I alone is the hardest common case (watches, handheld devices).
    """
    u = rng.random()
    wanted = np.zeros(12, dtype=bool)
    if u < 0.30:
        wanted[:] = True
    elif u < 0.45:
        wanted[STANDARD_LEADS.index("I")] = True
    elif u < 0.50:
        wanted[STANDARD_LEADS.index("II")] = True
    elif u < 0.55:
        wanted[rng.integers(0, 12)] = True
    elif u < 0.70:
        wanted = np.array([lead in LIMB_LEADS for lead in STANDARD_LEADS])
    elif u < 0.80:
        wanted = np.array([lead in PRECORDIAL_LEADS for lead in STANDARD_LEADS])
    else:
        wanted = rng.random(12) < 0.5
    mask = wanted & available
    if not mask.any():
        mask = np.zeros(12, dtype=bool)
        mask[rng.choice(np.flatnonzero(available))] = True
    return mask


class TrainWindows(Dataset):
    """Random window, lead subset and amplitude scale per record, keyed by (seed, epoch, index)."""

    def __init__(self, split: Split, spaces: list[str], window: int, seed: int):
        self.split = split
        self.targets = np.concatenate([split.label_matrix(s) for s in spaces], axis=1)
        self.window = window
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.split.arrays)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        x = self.split.arrays[i]
        start = int(rng.integers(0, max(1, x.shape[1] - self.window + 1)))
        window = crop_or_pad(x, self.window, start) * np.float32(rng.uniform(0.8, 1.2))
        mask = sample_lead_mask(rng, self.split.masks[i])
        return torch.from_numpy(window), torch.from_numpy(mask), torch.from_numpy(self.targets[i])


def cosine_lr(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 1% of the peak."""
    warm = max(1, int(0.05 * total))
    if step < warm:
        return peak * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return peak * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * progress)))


def git_commit() -> str | None:
    """The commit of the code that is running, with `-dirty` appended (as `git describe
    --dirty` does) when tracked files differ from it: a bundle's provenance then says that no
    commit holds the code that made it. None outside a git checkout."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent,
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}-dirty" if changed else commit


class Distributed:
    """World size, rank and the process group under torchrun; a single process otherwise."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        if self.world > 1:
            import torch.distributed as dist

            if device.type == "cuda":
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _save_checkpoint(out: Path, model: nn.Module, optimizer, state: dict) -> None:
    from ecglm_cli.models.weights import save_weights

    ckpt = out / CHECKPOINT_DIR
    ckpt.mkdir(parents=True, exist_ok=True)
    save_weights({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                 ckpt / "model.safetensors.tmp")
    os.replace(ckpt / "model.safetensors.tmp", ckpt / "model.safetensors")
    tensors = {}
    for i, st in optimizer.state_dict()["state"].items():
        for name, value in st.items():
            tensors[f"{i}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_weights(tensors, ckpt / "optimizer.safetensors.tmp")
    os.replace(ckpt / "optimizer.safetensors.tmp", ckpt / "optimizer.safetensors")
    write_json(ckpt / "state.json", state)


def _check_resume_options(ckpt: Path, state: dict, options: TrainOptions) -> None:
    """The options that shape the run must be the checkpoint's (--epochs may change)."""
    saved = {"stride_s": options.window_s / 2,  # checkpoints from before --stride used this
             **state.get("options", {})}
    now = options.to_dict()
    refuse_changed_options(ckpt, saved, {key: now[key] for key in (
        "width", "kernel_size", "window_s", "stride_s", "seed", "train_folds", "val_folds",
        "limit", "lr", "batch_size", "dropout", "weight_decay", "keep")})


def _load_checkpoint(out: Path, model: nn.Module, optimizer, options: TrainOptions) -> dict:
    from safetensors.torch import load_file

    ckpt = out / CHECKPOINT_DIR
    try:
        state = json.loads((ckpt / "state.json").read_text())
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
        flat = load_file(str(ckpt / "optimizer.safetensors"))
    except Exception as exc:  # any damage to the checkpoint is one clear error
        raise ModelError(f"{ckpt}: cannot resume ({exc})") from None
    opt_state = optimizer.state_dict()
    for key, value in flat.items():
        i, name = key.split(".", 1)
        opt_state["state"].setdefault(int(i), {})[name] = value
    optimizer.load_state_dict(opt_state)
    return state


def train_encoder(options: TrainOptions) -> Path:
    """Train, checkpoint and write a bundle after every epoch; return the bundle directory."""
    torch.manual_seed(options.seed)
    torch.backends.cudnn.deterministic = True  # reproducible convolutions on GPUs
    torch.backends.cudnn.benchmark = False
    dist = Distributed(resolve_device(options.device))
    device = dist.device
    try:
        return _train(options, dist, device)
    finally:
        dist.close()


def _log(dist: Distributed, text: str) -> None:
    if dist.is_main:
        print(text, file=sys.stderr, flush=True)


def _train(options: TrainOptions, dist: Distributed, device: torch.device) -> Path:
    import click

    run_state = Path(options.out) / CHECKPOINT_DIR / "state.json"
    if not options.resume and run_state.exists():
        raise EarlierRunError(options.out,
                              f"an earlier training run ({CHECKPOINT_DIR}/state.json)")
    if options.resume and run_state.exists():  # before the records are read, not after
        try:
            _check_resume_options(run_state.parent, json.loads(run_state.read_text()), options)
        except (OSError, ValueError, AttributeError, TypeError) as exc:  # a damaged state.json
            raise ModelError(f"{run_state.parent}: cannot resume ({exc})") from None
    ds = PTBXL(options.ptbxl)
    spaces = list(ds.label_spaces)
    config = EncoderConfig(
        width=options.width, kernel_size=options.kernel_size, window_s=options.window_s,
        stride_s=options.stride_s, dropout=options.dropout,
        label_counts={s: len(ds.label_spaces[s].labels) for s in spaces},
    )
    train_entries = ds.select(options.train_folds, options.limit)
    val_entries = ds.select(options.val_folds, options.limit)
    if warning := unknown_codes_warning(ds.unknown_codes(train_entries + val_entries)):
        _log(dist, warning)
    _log(dist, f"ecglm: reading {len(train_entries)} training and {len(val_entries)} "
               f"validation records from {options.ptbxl}")
    train, val = load_split(ds, train_entries, config), load_split(ds, val_entries, config)
    if ds.skipped:
        _log(dist, f"ecglm: {skipped_summary(ds.skipped)}")
    if not train.arrays or not val.arrays:
        raise ECGLMError(f"{options.ptbxl}: no usable records in the training or validation folds")
    if warning := few_records_warning(len(val.arrays)):
        _log(dist, warning)

    torch.manual_seed(options.seed)
    model = ECGClassifier(config).to(device)
    per_rank_batch = max(1, options.batch_size // dist.world)
    dataset = TrainWindows(train, spaces, config.window, options.seed)
    sampler = DistributedSampler(
        dataset, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=options.seed
    )
    loader = DataLoader(dataset, batch_size=per_rank_batch, sampler=sampler, drop_last=False)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    out = Path(options.out)
    start_epoch, history, best = 0, [], -1.0
    if options.resume and not run_state.exists():
        _log(dist, f"ecglm: nothing to resume in {out}; starting from the first epoch")
    elif options.resume:
        state = _load_checkpoint(out, model, optimizer, options)
        start_epoch, history = int(state["epochs_done"]), list(state.get("history", []))
        best = float(state.get("best_score", -1.0))
        _log(dist, f"ecglm: resuming after epoch {start_epoch}" + (
            f"; --epochs {options.epochs} are done, nothing to train"
            if start_epoch >= options.epochs else ""))
    net: nn.Module = model
    if dist.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    offsets = np.cumsum([0] + [config.label_counts[s] for s in spaces])
    total_steps = options.epochs * len(loader)
    loss_fn = nn.BCEWithLogitsLoss()
    label_spaces = {s: ds.label_spaces[s].to_dict() for s in spaces}
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        # the lines of the epochs checkpointed: a run killed after an epoch's line but before
        # its checkpoint logged that epoch twice once resumed (1, 1, 2, 3)
        if (out / "metrics.jsonl").exists():
            write_text_atomically(out / "metrics.jsonl",
                                  "".join(to_json_line(record) + "\n" for record in history))

    for epoch in range(start_epoch, options.epochs):
        dataset.epoch = epoch
        sampler.set_epoch(epoch)
        torch.manual_seed(options.seed * 100_003 + epoch)  # dropout: same on resume
        net.train()
        started, seen, loss_sum = time.time(), 0, 0.0
        bar = click.progressbar(
            length=len(loader), label=f"epoch {epoch + 1}/{options.epochs}", file=sys.stderr,
        ) if dist.is_main else None
        for step_in_epoch, (x, mask, y) in enumerate(loader):
            step = epoch * len(loader) + step_in_epoch
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total_steps, options.lr)
            x, mask, y = x.to(device), mask.to(device), y.to(device)
            logits = net(x, mask)
            loss = sum(
                loss_fn(logits[s], y[:, offsets[i]:offsets[i + 1]]) for i, s in enumerate(spaces)
            )
            value = check_loss(float(loss.detach()), f"epoch {epoch + 1}, step "
                               f"{step_in_epoch + 1}", options.lr)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(x)
            loss_sum += value * len(x)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.render_finish()
        train_time = time.time() - started
        check_weights(model, f"epoch {epoch + 1}", options.lr, stored_as=STORED_DTYPE)
        if dist.is_main:
            thresholds, val_report = validate(model, val, config, device)
            score = selection_score(val_report)
            improved = score > best
            record = {
                "epoch": epoch + 1, "train_loss": loss_sum / max(1, seen),
                "seconds": round(train_time, 2),
                "records_per_s": round(len(train.arrays) / max(train_time, 1e-9), 1),
                "selection_score": score, "val": val_report,
            }
            with interrupts_held():  # bundle, metrics and checkpoint of one epoch, or none
                if options.keep == "last" or improved:
                    best = max(best, score)
                    _write_bundle(model, train, val, config, device, label_spaces, options,
                                  dist, epoch + 1, thresholds, val_report)
                    record["bundle_written"] = True
                history.append(record)
                _save_checkpoint(out, model, optimizer, {
                    "epochs_done": epoch + 1, "options": options.to_dict(), "history": history,
                    "best_score": best,
                })
                with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(to_json_line(record) + "\n")
            super_auc = val_report["superdiagnostic"]["macro_auc"]
            scored = any(np.isfinite(m["macro_auc"]) for m in val_report.values())
            _log(dist, f"ecglm: epoch {epoch + 1}: loss {record['train_loss']:.4f}, "
                       f"val superdiagnostic AUC {_shown(super_auc)}, mean AUC "
                       f"{_shown(score if scored else float('nan'))}"
                       f"{' (bundle written)' if record.get('bundle_written') else ''}, "
                       f"{train_time:.0f} s")
        dist.barrier()
    return out


def _shown(value: float) -> str:
    """A figure for the log; "n/a" where none could be computed (it read 0.0000)."""
    return f"{value:.4f}" if np.isfinite(value) else "n/a"


def selection_score(val_report: dict) -> float:
    """Mean macro AUC over the label spaces: what `--keep best` maximises."""
    values = [m["macro_auc"] for m in val_report.values() if np.isfinite(m["macro_auc"])]
    return float(np.mean(values)) if values else 0.0


def validate(model: ECGClassifier, val: Split, config: EncoderConfig, device: torch.device):
    """F1-optimal thresholds on the validation folds (12 leads) and the figures at them."""
    probs = predict_split(model, val, config, None, device)
    thresholds = {s: best_thresholds(val.label_matrix(s), probs[s]) for s in probs}
    return thresholds, split_report(val, probs, thresholds)


def lead_set_reports(model: ECGClassifier, val: Split, config: EncoderConfig,
                     device: torch.device, thresholds: dict[str, np.ndarray],
                     twelve: dict) -> dict[str, dict]:
    """The validation figures of every reported lead set at the 12-lead thresholds (`twelve`:
    the 12-lead figures `validate` already computed)."""
    reports = {"12": twelve}
    for name, leads in REPORT_LEAD_SETS.items():
        if name != "12":
            reports[name] = split_report(val, predict_split(model, val, config, leads, device),
                                         thresholds)
    return reports


def _write_bundle(
    model: ECGClassifier, train: Split, val: Split, config: EncoderConfig, device: torch.device,
    label_spaces: dict, options: TrainOptions, dist: Distributed, epoch: int,
    thresholds: dict[str, np.ndarray], val_report: dict,
) -> None:
    """Write the bundle of this epoch, with validation figures for every reported lead set."""
    metrics = {"epoch": epoch, "folds": list(options.val_folds), "keep": options.keep,
               "lead_sets": lead_set_reports(model, val, config, device, thresholds, val_report)}
    provenance = {
        "data": str(Path(options.ptbxl).resolve()),
        "train_folds": list(options.train_folds), "val_folds": list(options.val_folds),
        "train_records": len(train.arrays), "val_records": len(val.arrays),
        "seed": options.seed, "epoch": epoch, "epochs": options.epochs,
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": str(device), "world_size": dist.world, "torch": torch.__version__,
        "options": options.to_dict(),
    }
    save_bundle(
        options.out, model, label_spaces, {s: t.tolist() for s, t in thresholds.items()},
        metrics, provenance,
    )
