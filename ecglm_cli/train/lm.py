"""`ecglm train align` and `ecglm train instruct`: teach an LM to read the frozen encoder.

Both stages train the projector. The compact LM is trained with it (it starts from nothing);
a pretrained LM stays frozen, or learns through LoRA adapters (`instruct --lora-rank N`).
`align` creates the compact LM and its tokenizer (trained on the stage's own corpus) and teaches
it reports and descriptions; `instruct` fine-tunes on question-answer pairs. Encoder features
are computed once per record and view before the first step, so an epoch costs only LM forward
and backward passes.

After every epoch the LM parts are written into the bundle and a checkpoint (optimizer, epoch,
random state) into `OUT/checkpoint/`, so `--resume` continues where a run stopped.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import click
import torch

from ecglm_cli.data.ptbxl import PTBXL
from ecglm_cli.errors import ModelError
from ecglm_cli.interrupts import interrupts_held
from ecglm_cli.models.bundle import copy_bundle, load_bundle, write_json
from ecglm_cli.models.compact_lm import CompactLMConfig, build_compact_lm, train_tokenizer
from ecglm_cli.models.device import resolve_device
from ecglm_cli.models.ecglm import (
    BUNDLED_LM_DIR,
    ECGLM,
    LM_PARTS_FILE,
    ECGProjector,
    ProjectorConfig,
    load_lm_parts,
    read_lm_parts,
    save_lm_parts,
)
from ecglm_cli.models.lm_loader import load_causal_lm
from ecglm_cli.models.lora import add_lora, is_lora
from ecglm_cli.output import to_json_line
from ecglm_cli.pipeline.ecg_features import feature_statements
from ecglm_cli.train.encoder import CHECKPOINT_DIR, cosine_lr, git_commit
from ecglm_cli.train.lm_data import (
    QAExample,
    batches,
    collate,
    encode_examples,
    parse_answer,
)
from ecglm_cli.train.lm_features import FeatureTable, precompute_features
from ecglm_cli.train.options import (
    RunOptions,
    check_loss,
    check_weights,
    refuse_changed_options,
    skipped_summary,
)
from ecglm_cli.train.output_dir import EarlierRunError, OutputError

STAGES = ("align", "instruct")
COMPACT = "compact"


@dataclass(kw_only=True)
class LMTrainOptions(RunOptions):
    stage: str
    bundle: str
    llm: str = COMPACT
    epochs: int = 3
    lr: float = 1e-3
    views: int = 4
    max_len: int = 384
    val_questions: int = 400
    ecgqa: tuple[Path, ...] = ()
    compact: CompactLMConfig = field(default_factory=CompactLMConfig)
    lora_rank: int = 0  # > 0: train LoRA adapters of a pretrained LM as well
    measured: bool = True  # the LM reads each record's measured values in its prompt
    draws: int = 2  # synthesized questions per template and training record

    def to_dict(self) -> dict:
        return {**super().to_dict(), "ecgqa": [str(p) for p in self.ecgqa]}


def _log(text: str) -> None:
    click.echo(f"[train {text}", err=True)


def prepare_out(options: LMTrainOptions) -> LMTrainOptions:
    """Check OUT and fill it with a copy of the bundle (with its LM parts, if any), which
    training adds to or updates. Run before any record is read, so that a refusal costs no
    measuring and no encoder pass.

    Returns the options to train with: `--resume` on an OUT with no checkpoint of the stage
    starts from the first epoch, as for the encoder, so a re-queued job can always pass it."""
    state = _checkpoint_state(Path(options.out), options.stage)
    if options.resume and state is None:
        _log(f"{options.stage}] nothing to resume in {options.out}; starting from the first "
             "epoch")
        options = replace(options, resume=False)
    if options.resume and state:
        _check_resume_options(state, options)
    if not options.resume and state and state["epoch"] < state["options"]["epochs"]:
        # a finished run may be continued (a new run on its LM); an interrupted one was
        # trained over with a second warm-up, its epochs logged twice
        raise EarlierRunError(options.out, f"an unfinished {options.stage} run (epoch "
                                           f"{state['epoch']} of {state['options']['epochs']})")
    source = load_bundle(options.bundle).path
    _refuse_replacing_an_lm(options, source)
    copy_bundle(source, Path(options.out))
    return options


def _refuse_replacing_an_lm(options: LMTrainOptions, source: Path) -> None:
    """`align` builds a new LM. Into an OUT that already holds one, it replaced that LM (an
    instruction-tuned one too, since OUT defaults to the bundle), dropped its record from
    ecglm.json and appended a second run to lm-metrics.jsonl. The LM parts copied there from
    `source` by a run stopped before its first epoch are not OUT's own: the rerun was refused."""
    out = Path(options.out)
    if options.stage != "align" or options.resume or not (out / LM_PARTS_FILE).exists():
        return
    if out.resolve() != source.resolve() and (source / LM_PARTS_FILE).is_file() \
            and (source / LM_PARTS_FILE).read_bytes() == (out / LM_PARTS_FILE).read_bytes():
        return
    try:
        stages = ", ".join(read_lm_parts(out).trained) or "untrained"
    except ModelError:
        stages = "unreadable"
    raise OutputError(f"{out}: already holds a language model ({stages}), which `train align` "
                      "would replace; pass --out a new folder, or --resume to finish an "
                      "interrupted align")


def _new_model(options: LMTrainOptions, bundle, corpus: list[str]) -> ECGLM:
    if options.llm == COMPACT:
        tokenizer = train_tokenizer(corpus, options.compact.vocab_size)
        lm = build_compact_lm(tokenizer, options.compact)
    else:
        lm, tokenizer = load_causal_lm(options.llm)
        if options.lora_rank:
            lm = add_lora(lm, options.lora_rank)
    config = ProjectorConfig(
        encoder_dim=bundle.config.embed_dim, n_encoder_tokens=bundle.config.n_tokens,
        statements=feature_statements(bundle),
        lm_hidden=lm.get_input_embeddings().embedding_dim,
    )
    return ECGLM(lm, tokenizer, ECGProjector(config), _lm_ref(options))


def _lm_ref(options: LMTrainOptions) -> str:
    return BUNDLED_LM_DIR if options.llm == COMPACT else options.llm


def _model_for_stage(
    options: LMTrainOptions, out: Path, bundle, corpus: list[str]
) -> tuple[ECGLM, dict]:
    """The model to train and the stages it has had (`trained` of ecglm.json).

    Resume or instruct: the bundle's LM; align (fresh): a new compact LM or a new projector.
    """
    if options.lora_rank and options.llm == COMPACT:
        raise ModelError("--lora-rank adapts a pretrained --llm; the compact LM is trained whole")
    has_lm = (out / LM_PARTS_FILE).exists()
    if has_lm and (options.resume or options.stage == "instruct"):
        parts = read_lm_parts(out)
        if parts.lm != _lm_ref(options):
            raise ModelError(f"{out}: its LM parts were trained for another LM than {options.llm}")
        if options.lora_rank and parts.lora_rank not in (0, options.lora_rank):
            raise ModelError(f"{out}: its LoRA adapter has rank {parts.lora_rank}, not "
                             f"{options.lora_rank}")
        model = load_lm_parts(out, trainable=True, bundle=bundle)
        if options.lora_rank and not is_lora(model.lm):
            model.lm = add_lora(model.lm, options.lora_rank)
        return model, parts.trained
    if options.resume:
        raise ModelError(f"{out}: cannot resume: its checkpoint has no LM parts (no "
                         f"{LM_PARTS_FILE})")
    if options.stage == "instruct":
        what = ("a new compact LM" if options.llm == COMPACT
                else f"a new projector for {options.llm}")
        _log(f"instruct] {out} holds no language model: starting {what} from scratch "
             "(`ecglm train align` first would teach it ECG descriptions)")
    return _new_model(options, bundle, corpus), {}


def _earlier_run(trained: dict, options: LMTrainOptions) -> dict | None:
    """The record of the run this one continues, so that ecglm.json keeps every run's provenance.

    A new run on an LM that already had this stage continues it; `--resume` finishes the
    interrupted run itself, which keeps the run it continued.
    """
    current = trained.get(options.stage)
    if current is None:
        return None
    return current.get("continues") if options.resume else current


def _trainable(model: ECGLM, options: LMTrainOptions) -> list[torch.nn.Parameter]:
    model.lm.requires_grad_(options.llm == COMPACT)
    if is_lora(model.lm):  # a pretrained LM learns through its adapter only
        for name, param in model.lm.named_parameters():
            param.requires_grad_("lora_" in name)
    return [p for p in model.parameters() if p.requires_grad]


def _checkpoint_paths(out: Path, stage: str) -> tuple[Path, Path]:
    folder = out / CHECKPOINT_DIR
    return folder / f"lm-{stage}.pt", folder / f"lm-{stage}.json"


def _checkpoint_state(out: Path, stage: str) -> dict | None:
    """The state (epoch, options) of OUT's checkpoint of `stage`; None where it has none."""
    weights, info = _checkpoint_paths(out, stage)
    if not (weights.exists() and info.exists()):
        return None
    try:
        return json.loads(info.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{info}: unreadable checkpoint ({exc})") from None


def _save_checkpoint(out: Path, options: LMTrainOptions, optimizer, state: dict) -> None:
    weights, info = _checkpoint_paths(out, options.stage)
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state()}, str(weights) + ".tmp")
    Path(str(weights) + ".tmp").replace(weights)
    write_json(info, {**state, "options": options.to_dict()})


def _load_checkpoint(out: Path, options: LMTrainOptions, optimizer) -> dict:
    weights, info = _checkpoint_paths(out, options.stage)
    try:
        state = json.loads(info.read_text())
        saved = torch.load(weights, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
    except Exception as exc:  # any damage to the checkpoint is one clear error
        raise ModelError(f"{weights}: cannot resume ({exc})") from None
    return state


def _check_resume_options(state: dict, options: LMTrainOptions) -> None:
    """The options that shape the run must be the checkpoint's (`--epochs` may change): a usage
    error (exit 2), before any record is measured or encoded."""
    try:
        saved = _resume_keys(state["options"])
    except (KeyError, TypeError, AttributeError):
        raise ModelError(f"{options.out}: its {options.stage} checkpoint is damaged (no "
                         "options)") from None
    _, info = _checkpoint_paths(Path(options.out), options.stage)
    refuse_changed_options(info, saved, _resume_keys(options.to_dict()))


def _resume_keys(options: dict) -> dict:
    """The options that shape a run, as resuming compares them: `--draws`, `--val-questions`
    and the compact LM's size were taken changed, and `ecglm.json` then recorded a hidden size
    of 64 for an LM of 32."""
    shaping = ("seed", "llm", "train_folds", "val_folds", "limit", "views", "lora_rank",
               "measured", "lr", "batch_size", "ecgqa", "draws", "val_questions")
    compact = options.get("compact") or {}
    return {**{key: options.get(key) for key in shaping},
            **{key: compact.get(key) for key in ("vocab_size", "hidden", "layers", "heads")}}


def _rows_for(features: FeatureTable, batch, rng: random.Random | None, view0: bool) -> list[int]:
    return [features.views[e.ecg_id][0 if view0 else rng.randrange(len(features.views[e.ecg_id]))]
            for e in batch]


def _step_inputs(model: ECGLM, features: FeatureTable, rows: list[int], device):
    tokens = features.tokens[rows].to(device, torch.float32)
    logits = features.logits[rows].to(device)
    return tokens, logits


@torch.no_grad()
def validation_loss(
    model: ECGLM, rows: list, features: FeatureTable, device, batch_size: int = 64
) -> float | None:
    """Mean answer-token loss on held-out records (view 0, as `ask` sees them)."""
    model.eval()
    losses = []
    for i in range(0, len(rows), batch_size):
        batch = rows[i:i + batch_size]
        tokens, logits = _step_inputs(model, features, _rows_for(features, batch, None, True),
                                      device)
        inputs = {k: v.to(device) for k, v in collate(batch, model.tokenizer.pad_token_id).items()}
        out = model(inputs["input_ids"], inputs["attention_mask"], tokens, logits,
                    labels=inputs["labels"])
        losses.append(float(out.loss))
    return round(sum(losses) / len(losses), 4) if losses else None


@torch.no_grad()
def validate(
    model: ECGLM, examples: list[QAExample], features: FeatureTable, device,
    contexts: dict[int, str] | None = None, batch_size: int = 64,
) -> dict:
    """Exact-match accuracy of greedy answers (as answer sets) per question type."""
    model.eval()
    right: dict[str, list[int]] = defaultdict(list)
    usable = [e for e in examples if e.ecg_id in features.views]
    for i in range(0, len(usable), batch_size):
        chunk = usable[i:i + batch_size]
        rows = [features.views[e.ecg_id][0] for e in chunk]
        tokens, logits = _step_inputs(model, features, rows, device)
        answers = model.generate([e.question for e in chunk], tokens, logits, max_new_tokens=48,
                                 contexts=[(contexts or {}).get(e.ecg_id, "") for e in chunk])
        for example, answer in zip(chunk, answers, strict=True):
            ok = sorted(parse_answer(answer)) == sorted(parse_answer(example.answer))
            right[example.question_type or "all"].append(int(ok))
    return {kind: round(sum(v) / len(v), 4) for kind, v in sorted(right.items())}


def train_lm(
    options: LMTrainOptions,
    train_examples: list[QAExample],
    val_examples: list[QAExample],
    corpus: list[str],
    contexts: dict[int, str] | None = None,
) -> Path:
    """Train one stage on the given texts and write the LM parts into the bundle at OUT,
    which `prepare_out` has filled.

    `contexts` (ecg_id -> measured-values line) is required when `options.measured`."""
    if options.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    random.seed(options.seed)
    torch.manual_seed(options.seed)
    device = resolve_device(options.device)
    out = Path(options.out)
    bundle = load_bundle(out)
    ptbxl = PTBXL(options.ptbxl)
    wanted = {e.ecg_id for e in train_examples} | {e.ecg_id for e in val_examples}
    entries = [e for e in ptbxl.select(options.train_folds + options.val_folds)
               if e.ecg_id in wanted]
    if options.measured and contexts is None:
        raise ValueError("a measured LM needs each record's measured values (contexts)")
    contexts = contexts if options.measured else None
    model, trained = _model_for_stage(options, out, bundle, corpus)
    model.measured = options.measured
    earlier = _earlier_run(trained, options)
    model.to(device)
    params = _trainable(model, options)

    _log(f"{options.stage}] encoder features for {len(entries)} records x {options.views} views")
    with click.progressbar(length=len(entries), file=sys.stderr, label="features") as bar:
        features = precompute_features(bundle, ptbxl, entries, options.views, options.seed,
                                       device, bar.update)
    unreadable = {k: v for k, v in ptbxl.skipped.items() if k in wanted}
    if unreadable:  # as `train encoder` reports them: they were dropped without a word
        _log(f"{options.stage}] {skipped_summary(unreadable)}")
    train_rows = encode_examples(
        model.tokenizer, [e for e in train_examples if e.ecg_id in features.views],
        model.n_features, options.max_len, contexts,
    )
    if not train_rows:
        raise ModelError("no training examples refer to a readable record")
    val_examples = [e for e in val_examples if e.ecg_id in features.views]
    val_rows = encode_examples(model.tokenizer, val_examples[: options.val_questions],
                               model.n_features, options.max_len, contexts)
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.01)
    start_epoch, history = 0, []
    if options.resume:
        state = _load_checkpoint(out, options, optimizer)
        start_epoch, history = state["epoch"], state.get("history", [])
        _log(f"{options.stage}] resuming after epoch {start_epoch}")
    steps_per_epoch = -(-len(train_rows) // options.batch_size)
    total = steps_per_epoch * options.epochs
    pad = model.tokenizer.pad_token_id
    amp = device.type == "cuda"
    _log(f"{options.stage}] {len(train_rows)} examples, {steps_per_epoch} steps per epoch, "
         f"{sum(p.numel() for p in params):,} trainable parameters on {device}")
    for epoch in range(start_epoch, options.epochs):
        rng = random.Random(options.seed * 1_000_003 + epoch)
        torch.manual_seed(options.seed * 100_003 + epoch)
        model.train()
        losses, started = [], time.time()
        plan = batches(train_rows, options.batch_size, rng)
        with click.progressbar(plan, file=sys.stderr,
                               label=f"{options.stage} epoch {epoch + 1}/{options.epochs}") as bar:
            for i, batch in enumerate(bar):
                step = epoch * steps_per_epoch + i
                for group in optimizer.param_groups:
                    group["lr"] = float(cosine_lr(step, total, options.lr))
                tokens, logits = _step_inputs(model, features, _rows_for(features, batch, rng,
                                                                          False), device)
                inputs = {k: v.to(device) for k, v in collate(batch, pad).items()}
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loss = model(inputs["input_ids"], inputs["attention_mask"], tokens, logits,
                                 labels=inputs["labels"]).loss
                losses.append(check_loss(loss.item(), f"{options.stage} epoch {epoch + 1}, "
                                         f"step {i + 1}", options.lr))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
        check_weights(model, f"{options.stage} epoch {epoch + 1}", options.lr)
        metrics = {
            "stage": options.stage, "epoch": epoch + 1,
            "train_loss": round(sum(losses) / len(losses), 4),
            "seconds": round(time.time() - started, 1),
            "val_loss": validation_loss(model, val_rows, features, device),
        }
        if options.stage == "instruct":
            metrics["val_accuracy"] = validate(
                model, val_examples[: options.val_questions], features, device, contexts
            )
        history.append(metrics)
        _log(f"{options.stage}] {json.dumps(metrics)}")
        trained[options.stage] = {
            "history": history, "git_commit": git_commit(),
            "options": options.to_dict(), "device": str(device),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"continues": earlier} if earlier else {}),
        }
        with interrupts_held():  # the LM parts, checkpoint and metrics of one epoch, or none
            save_lm_parts(model, out, _lm_ref(options), trained)
            _save_checkpoint(out, options, optimizer, {"epoch": epoch + 1, "history": history})
            with open(out / "lm-metrics.jsonl", "a", encoding="utf-8") as fh:  # last: a failed
                fh.write(to_json_line(metrics) + "\n")  # write and --resume logged it twice
    return out
