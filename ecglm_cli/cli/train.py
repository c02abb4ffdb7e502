"""`ecglm train`: a group; each trainable model is one subcommand."""

from __future__ import annotations

from pathlib import Path

import click


def parse_folds(text: str) -> tuple[int, ...]:
    try:
        folds = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated fold numbers, got {text!r}") from None
    if not folds:
        raise click.BadParameter("no folds given")
    return folds


@click.group("train", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Train the encoder or the ECG language model."""


@command.command("encoder", epilog="""\b
Examples:
  ecglm train encoder --ptbxl ptb-xl/ --out runs/enc --epochs 1
  ecglm train encoder --ptbxl ptb-xl/ --out runs/enc --epochs 40 --resume
  torchrun --nproc_per_node 2 -m ecglm_cli train encoder --ptbxl ptb-xl/ --out runs/enc
""")
@click.option("--ptbxl", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Bundle directory to write (checkpoints go to OUT/checkpoint).")
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--device", default="auto", show_default=True,
              type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Records per step, across all processes.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=3e-3,
              show_default=True, help="Peak learning rate (AdamW, warm-up then cosine).")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01, show_default=True)
@click.option("--train-folds", default="1,2,3,4,5,6,7,8", show_default=True)
@click.option("--val-folds", default="9", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use at most N records per split (quick tests).")
@click.option("--width", type=click.IntRange(min=1), default=64, show_default=True,
              help="Channels of the first ResNet stage (later stages x2, x4, x8).")
@click.option("--kernel-size", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--window", "window_s", type=click.FloatRange(min=0.5), default=5.0,
              show_default=True, help="Window length in seconds (random crops in training).")
@click.option("--dropout", type=click.FloatRange(0, 1), default=0.2, show_default=True)
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Bundle of the epoch with the best mean validation AUC, or of the last one.")
def encoder(ptbxl: Path, out: Path, epochs: int, device: str, seed: int, resume: bool,
            batch_size: int, lr: float, weight_decay: float, train_folds: str, val_folds: str,
            limit: int | None, width: int, kernel_size: int, window_s: float,
            dropout: float, keep: str) -> None:
    """Train the variable-lead encoder on PTB-XL and write a model bundle to OUT."""
    from ecglm_cli.train.encoder import TrainOptions, train_encoder

    options = TrainOptions(
        ptbxl=ptbxl, out=out, epochs=epochs, device=device, seed=seed, resume=resume,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        train_folds=parse_folds(train_folds), val_folds=parse_folds(val_folds), limit=limit,
        width=width, kernel_size=kernel_size, window_s=window_s, dropout=dropout, keep=keep,
    )
    bundle = train_encoder(options)
    click.echo(str(bundle))
