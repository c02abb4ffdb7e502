"""`ecglm train`: one subcommand per trainable model (encoder; LM align and instruct)."""

from __future__ import annotations

from pathlib import Path

import click

from ecglm_cli.cli.common import device_option


def _odd(value: int, param: click.Parameter) -> int:
    """An even kernel failed after every record was read: "The size of tensor a (127) must
    match the size of tensor b (125)"."""
    if value % 2 == 0:
        raise click.BadParameter(f"{value} is even; the encoder's kernels are odd (3, 5, 7)",
                                 param=param)
    return value


PTBXL_FOLDS = 10


def parse_folds(text: str, option: str) -> tuple[int, ...]:
    """The fold numbers `option` gives, each one of PTB-XL's."""
    try:
        folds = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated fold numbers, got {text!r}",
                                 param_hint=option) from None
    if not folds:
        raise click.BadParameter("no folds given", param_hint=option)
    wrong = [fold for fold in folds if not 1 <= fold <= PTBXL_FOLDS]
    if wrong:  # `--train-folds 1,2,11` trained on folds 1 and 2 without a word
        raise click.BadParameter(f"PTB-XL's folds (strat_fold) are 1 to {PTBXL_FOLDS}, not "
                                 f"{', '.join(map(str, wrong))}", param_hint=option)
    return folds


TEST_FOLD = 10  # PTB-XL's recommended test fold


def parse_split(train_folds: str, val_folds: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Training and validation folds, which may not share a fold: checkpoints and thresholds
    chosen on training records flatter the model, and nothing said so (`--train-folds 8
    --val-folds 8` trained and validated on one fold, exit 0). Using PTB-XL's test fold is
    allowed, with a warning, since its figures are then no longer independent."""
    train, val = parse_folds(train_folds, "--train-folds"), parse_folds(val_folds, "--val-folds")
    shared = sorted(set(train) & set(val))
    if shared:
        raise click.UsageError(f"fold {','.join(map(str, shared))} is in both --train-folds and "
                               "--val-folds; validation needs records the model never trained on")
    warn_test_fold(train + val)
    return train, val


def warn_test_fold(folds: tuple[int, ...]) -> None:
    if TEST_FOLD in folds:
        click.echo(f"ecglm: warning: fold {TEST_FOLD} is PTB-XL's test fold; a model trained or "
                   "tuned on it can no longer be tested on it", err=True)


def _warn_few_records(records: int) -> None:
    from ecglm_cli.train.options import few_records_warning

    if warning := few_records_warning(records):
        click.echo(warning, err=True)


TRAIN_EXAMPLES = """\b
Examples (the order the shipped ecglm-base was made in):
  ecglm train encoder --ptbxl ptb-xl/ --out runs/enc --epochs 60
  ecglm train align --ptbxl ptb-xl/ --bundle runs/enc --out runs/ecglm --epochs 2
  ecglm train instruct --ptbxl ptb-xl/ --bundle runs/ecglm --epochs 8
  ecglm train lm-thresholds --ptbxl ptb-xl/ --bundle runs/ecglm
Exact settings: scripts/train_ecglm_base.sh and scripts/train_ecglm_lm.sh.
"""


@click.group("train", epilog=TRAIN_EXAMPLES,
             context_settings={"help_option_names": ["-h", "--help"]})
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
@device_option("auto", "Where to train")
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
@click.option("--kernel-size", type=click.IntRange(min=1), default=5, show_default=True,
              callback=lambda _ctx, param, value: _odd(value, param),
              help="Convolution kernel length, odd.")
@click.option("--window", "window_s", type=click.FloatRange(min=0.5), default=5.0,
              show_default=True, help="Window length in seconds (random crops in training).")
@click.option("--stride", "stride_s", type=click.FloatRange(min=0.1), default=None,
              help="Hop between the windows a record is scored on, in seconds (validation and "
                   "the bundle's inference). Default: half the window; the window itself is "
                   "about a third less model time per 10 s record.")
@click.option("--dropout", type=click.FloatRange(0, 1), default=0.2, show_default=True)
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Bundle of the epoch with the best mean validation AUC, or of the last one.")
def encoder(ptbxl: Path, out: Path, epochs: int, device: str, seed: int, resume: bool,
            batch_size: int, lr: float, weight_decay: float, train_folds: str, val_folds: str,
            limit: int | None, width: int, kernel_size: int, window_s: float,
            stride_s: float | None, dropout: float, keep: str) -> None:
    """Train the variable-lead encoder on PTB-XL and write a model bundle to OUT."""
    from ecglm_cli.train.encoder import TrainOptions, train_encoder
    from ecglm_cli.train.output_dir import check_output

    train, val = parse_split(train_folds, val_folds)
    check_output(out, "the trained bundle")
    options = TrainOptions(
        ptbxl=ptbxl, out=out, epochs=epochs, device=device, seed=seed, resume=resume,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        train_folds=train, val_folds=val, limit=limit,
        width=width, kernel_size=kernel_size, window_s=window_s, stride_s=stride_s,
        dropout=dropout, keep=keep,
    )
    bundle = train_encoder(options)
    click.echo(str(bundle))


# --- the ECG language model: `train align` and `train instruct` ---------------------------
def _shared_options(func):
    options = [
        click.option("--ptbxl", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/)."),
        click.option("--bundle", default="ecglm-base", show_default=True,
                     help="Encoder bundle to read (frozen)."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Bundle directory to write (default: --bundle itself; required when "
                          "--bundle is built in or downloaded, which are never written)."),
        click.option("--llm", default="compact", show_default=True,
                     help="'compact' (trained here) or a local dir / cached name of a causal LM "
                          "(kept frozen)."),
        click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True),
        device_option("auto", "Where to train"),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3,
                     show_default=True, help="Peak learning rate (AdamW, warm-up then cosine)."),
        click.option("--views", type=click.IntRange(min=1), default=4, show_default=True,
                     help="Encoder views per record: the whole record plus random crops and "
                          "lead subsets."),
        click.option("--train-folds", default="1,2,3,4,5,6,7,8", show_default=True),
        click.option("--val-folds", default="9", show_default=True),
        click.option("--limit", type=click.IntRange(min=1), default=None,
                     help="Use at most N records per split (quick tests)."),
        click.option("--measured/--no-measured", default=True, show_default=True,
                     help="The LM reads each record's measured values (rate, intervals, axis) "
                          "in its prompt, and learns questions about them."),
        click.option("--draws", type=click.IntRange(min=1), default=2, show_default=True,
                     help="Synthesized questions per template and training record."),
        click.option("--val-questions", type=click.IntRange(min=0), default=400,
                     show_default=True, help="Held-out texts scored after each epoch."),
        click.option("--vocab-size", type=click.IntRange(min=300), default=4096,
                     show_default=True, help="New compact LM: BPE vocabulary size."),
        click.option("--hidden", type=click.IntRange(min=16), default=256, show_default=True,
                     help="New compact LM: hidden size."),
        click.option("--layers", type=click.IntRange(min=1), default=4, show_default=True,
                     help="New compact LM: transformer layers."),
        click.option("--heads", type=click.IntRange(min=1), default=4, show_default=True,
                     help="New compact LM: attention heads."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(stage: str, ptbxl: Path, bundle: str, out: Path | None, llm: str, epochs: int,
         device: str, seed: int, resume: bool, batch_size: int, lr: float, views: int,
         train_folds: str, val_folds: str, limit: int | None, measured: bool, draws: int,
         val_questions: int, vocab_size: int, hidden: int, layers: int, heads: int,
         ecgqa: tuple[Path, ...] = (), lora_rank: int = 0) -> None:
    from ecglm_cli.models.compact_lm import CompactLMConfig
    from ecglm_cli.train.lm import LMTrainOptions, prepare_out, train_lm
    from ecglm_cli.train.lm_corpus import build_texts
    from ecglm_cli.train.output_dir import run_output

    train, val = parse_split(train_folds, val_folds)
    out = run_output(out, bundle, "the trained bundle")
    options = LMTrainOptions(
        stage=stage, ptbxl=ptbxl, bundle=bundle, out=out, llm=llm, epochs=epochs,
        device=device, seed=seed, resume=resume, batch_size=batch_size, lr=lr, views=views,
        train_folds=train, val_folds=val, limit=limit, val_questions=val_questions,
        ecgqa=tuple(ecgqa),
        compact=CompactLMConfig(vocab_size=vocab_size, hidden=hidden, layers=layers, heads=heads,
                                intermediate=hidden * 11 // 4),
        lora_rank=lora_rank, measured=measured, draws=draws,
    )
    options = prepare_out(options)
    texts = build_texts(options)
    click.echo(str(train_lm(options, texts.train, texts.val, texts.corpus, texts.contexts)))


@command.command("align", epilog="""\b
Examples:
  ecglm train align --ptbxl ptb-xl/ --bundle runs/enc --out runs/ecglm --epochs 2
  ecglm train align --ptbxl ptb-xl/ --bundle runs/enc --out runs/ecglm --device cpu --limit 50
""")
@_shared_options
def align(**kwargs) -> None:
    """Teach the LM to read the frozen encoder from reports and descriptions.

    With --llm compact (the default) this creates the compact LM and its BPE tokenizer from the
    training corpus and trains them with the projector; a pretrained LM stays frozen.
    """
    _run("align", **kwargs)


@command.command("instruct", epilog="""\b
Examples:
  ecglm train instruct --ptbxl ptb-xl/ --bundle runs/ecglm --epochs 6
  ecglm train instruct --ptbxl ptb-xl/ --bundle runs/ecglm --ecgqa ecgqa/ptbxl/paraphrased/train
  ecglm train instruct --ptbxl ptb-xl/ --bundle runs/qwen --llm qwen-dir/ --lora-rank 16
\b
The last needs a bundle aligned for that LM first (`ecglm train align --llm qwen-dir/ ...`).
""")
@_shared_options
@click.option("--ecgqa", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="Also train on official ECG-QA JSON (file or folder; local records only).")
@click.option("--lora-rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pretrained --llm only: also train LoRA adapters of this rank on all its "
                   "linear layers (alpha = 2 x rank; needs pip install 'ecglm[lora]'). "
                   "0: the LM stays frozen.")
def instruct(**kwargs) -> None:
    """Fine-tune on question-answer pairs (ECG-QA's single-ECG types, reports, unanswerables)."""
    _run("instruct", **kwargs)


def _threshold_options(bundle_help: str):
    """The options of the commands that choose thresholds again for a finished bundle."""
    options = [
        click.option("--ptbxl", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/)."),
        click.option("--bundle", default="ecglm-base", show_default=True, help=bundle_help),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Write a copy of --bundle with the new thresholds here instead "
                          "(required when --bundle is built in or downloaded)."),
        click.option("--val-folds", default="9", show_default=True,
                     help="Validation folds to choose on (not PTB-XL's test fold 10: a warning)."),
        click.option("--limit", type=click.IntRange(min=1), default=None,
                     help="Use at most N records (quick tests)."),
    ]

    def apply(func):
        for option in reversed(options):
            func = option(func)
        return func

    return apply


@command.command("thresholds", epilog="""\b
Examples:
  ecglm train thresholds --ptbxl ptb-xl/ --bundle runs/enc
  ecglm train thresholds --ptbxl ptb-xl/ --bundle ecglm-base --out runs/base-thresholds
\b
Repeats the last step of `train encoder` for a finished bundle: per statement, the cut that
maximises F1 on --val-folds (never below 0.02), and the validation figures of every lead set at
those cuts, written to BUNDLE/thresholds.json and metrics.json (or a copy of BUNDLE in OUT). The
built-in and downloaded bundles are never written: with those, pass --out.
""")
@_threshold_options("Classifier bundle whose thresholds are chosen again.")
@device_option("auto")
def thresholds(ptbxl: Path, bundle: str, out: Path | None, val_folds: str, limit: int | None,
               device: str) -> None:
    """Choose a classifier bundle's decision thresholds again on the validation folds."""
    from ecglm_cli.train.output_dir import run_output
    from ecglm_cli.train.thresholds import rechoose_thresholds

    folds = parse_folds(val_folds, "--val-folds")
    warn_test_fold(folds)
    target = run_output(out, bundle, "a copy of the bundle with the new thresholds")
    written, records = rechoose_thresholds(bundle, ptbxl, folds, target, limit, device)
    _warn_few_records(records)
    click.echo(str(written))


@command.command("lm-thresholds", epilog="""\b
Examples:
  ecglm train lm-thresholds --ptbxl ptb-xl/ --bundle runs/ecglm
  ecglm train lm-thresholds --ptbxl ptb-xl/ --bundle runs/ecglm --val-folds 9 --limit 50
  ecglm train lm-thresholds --ptbxl ptb-xl/ --out runs/my-base    (a copy of ecglm-base)
\b
Run after `train instruct` (which removes thresholds chosen for an earlier LM). Writes
BUNDLE/lm-thresholds.json (or a copy of BUNDLE with it in OUT); `classify --via lm` then decides
at these thresholds and `evaluate --via lm` reports F1 at them next to F1 at the LM's own answer.
The built-in and downloaded bundles are never written: with those, pass --out.
""")
@_threshold_options("Bundle with a language model; the thresholds are written into it.")
@click.option("--llm", default=None, help="The LM the bundle's projector was trained for.")
@device_option("auto")
def lm_thresholds(ptbxl: Path, bundle: str, out: Path | None, val_folds: str,
                  limit: int | None, llm: str | None, device: str) -> None:
    """Choose, per statement, the P(yes) threshold of LM detection that maximises F1 on the
    validation folds (as the classifier heads' thresholds are chosen)."""
    from ecglm_cli.models.bundle import copy_bundle, resolve_bundle_dir
    from ecglm_cli.models.device import resolve_device
    from ecglm_cli.models.ecglm import save_lm_thresholds
    from ecglm_cli.pipeline.lm_detect import choose_lm_thresholds
    from ecglm_cli.progress import Progress
    from ecglm_cli.train.output_dir import run_output

    folds = parse_folds(val_folds, "--val-folds")
    warn_test_fold(folds)
    resolve_device(device)  # before OUT is filled: --device cuda without a GPU left a copy
    bundle_dir = resolve_bundle_dir(bundle)
    # copied first: an OUT holding another bundle is refused before any record is read
    target = copy_bundle(bundle_dir, run_output(out, bundle,
                                                "a copy of the bundle with the new thresholds"))
    progress = Progress(None, label="ecglm train lm-thresholds: ")
    try:
        chosen, records = choose_lm_thresholds(str(bundle_dir), ptbxl, folds, limit, llm,
                                               progress.update, device)
    finally:
        progress.close()
    _warn_few_records(records)
    path = save_lm_thresholds(target, chosen,
                              {"val_folds": list(folds), "limit": limit, "records": records})
    click.echo(str(path))
