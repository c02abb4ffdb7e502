"""The ECG language model: encoder features projected into a causal LM's embedding space.

LLaVA-style and deliberately plain. The prompt carries one `<ecg>` placeholder token per ECG
feature; an MLP projector maps the frozen encoder's tokens (and its classifier-head logits, one
token per statement) to the LM's hidden size, and `masked_scatter` writes them into the prompt's
`inputs_embeds` at the placeholder positions. The LM itself is an unmodified
`AutoModelForCausalLM`: the placeholder id is swapped for an ordinary id before the embedding
lookup, so the LM's vocabulary and weights need no change.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ecglm_cli.errors import ModelError, QuestionError
from ecglm_cli.models.weights import check_readable, first_not_finite

ECG_TOKEN = "<ecg>"
ANSWER_SEPARATOR = "; "  # ECG-QA answers may contain ", " themselves
LM_PARTS_VERSION = 1
LM_PARTS_FILE = "ecglm.json"
STAGING_DIR = ".lm-parts.partial"  # where `save_lm_parts` writes before moving into place
PROJECTOR_FILE = "projector.safetensors"
BUNDLED_LM_DIR = "lm"
LM_THRESHOLDS_FILE = "lm-thresholds.json"  # per statement P(yes) cut for LM detection


@dataclass
class ProjectorConfig:
    """Shapes of the projector, saved beside its weights so loading can check them."""

    encoder_dim: int
    n_encoder_tokens: int
    statements: list[str] = field(default_factory=list)  # one ECG token per head output
    lm_hidden: int = 256

    @property
    def n_features(self) -> int:
        return self.n_encoder_tokens + len(self.statements)


class ECGProjector(nn.Module):
    """Maps encoder tokens [B,K,D] and head logits [B,S] to LM embeddings [B,K+S,H].

    Encoder tokens go through a two-layer MLP. Each head output becomes one token: a learned
    identity vector for its statement plus its (clamped) logit times a learned direction, so the
    LM can attend to "the AFIB evidence" by position-free content rather than by a fixed slot.
    """

    def __init__(self, config: ProjectorConfig):
        super().__init__()
        self.config = config
        h = config.lm_hidden
        self.mlp = nn.Sequential(
            nn.Linear(config.encoder_dim, h), nn.GELU(), nn.Linear(h, h),
        )
        n = len(config.statements)
        self.statement_id = nn.Parameter(torch.randn(n, h) * 0.02)
        self.statement_value = nn.Parameter(torch.randn(n, h) * 0.02)
        self.norm = nn.LayerNorm(h)

    def forward(self, tokens: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
        if tokens.dim() != 3 or tokens.shape[1:] != (
            self.config.n_encoder_tokens, self.config.encoder_dim
        ):
            raise ModelError(
                f"encoder tokens shaped {tuple(tokens.shape)}, projector expects "
                f"[B, {self.config.n_encoder_tokens}, {self.config.encoder_dim}]"
            )
        parts = [self.mlp(tokens)]
        if self.config.statements:
            if logits is None or logits.shape[-1] != len(self.config.statements):
                got = None if logits is None else logits.shape[-1]
                raise ModelError(
                    f"projector expects {len(self.config.statements)} head logits, got {got}"
                )
            value = logits.clamp(-12, 12).unsqueeze(-1) / 4
            parts.append(self.statement_id + value * self.statement_value)
        return self.norm(torch.cat(parts, dim=1))


def build_prompt(tokenizer: Any, question: str, n_features: int, context: str = "") -> str:
    """The text fed to the LM: ECG placeholders, the record's `context` line (its measured
    values, for an LM trained with them), then the question, in the chat template if any.

    A literal `<ecg>` typed in the question becomes plain "ECG", so only the placeholders that
    this function writes can take ECG features.
    """
    text = [part.replace(ECG_TOKEN, "ECG").strip() for part in (context, question)]
    content = ECG_TOKEN * n_features + "\n" + "\n".join(part for part in text if part)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
    return f"{content}\nAnswer: "


def ensure_ecg_token(tokenizer: Any) -> int:
    """Register `<ecg>` as a special token of the tokenizer (not of the LM) and return its id."""
    if ECG_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [ECG_TOKEN]})
    return int(tokenizer.convert_tokens_to_ids(ECG_TOKEN))


class _CallbackStreamer:
    """Passes each newly generated token id to a callback (for `ask --stream`)."""

    def __init__(self, on_token: Callable[[int], None]):
        self.on_token = on_token
        self.started = False

    def put(self, value: torch.Tensor) -> None:
        if not self.started:  # generate() first hands over the prompt ids (empty here)
            self.started = True
            if value.numel() == 0:
                return
        for token in value.reshape(-1).tolist():
            self.on_token(int(token))

    def end(self) -> None:
        pass


class ECGLM(nn.Module):
    """A projector and a causal LM; the LM is frozen or trained by the caller, never altered."""

    def __init__(self, lm: nn.Module, tokenizer: Any, projector: ECGProjector,
                 lm_ref: str = BUNDLED_LM_DIR, measured: bool = False):
        super().__init__()
        self.lm = lm
        self.measured = measured  # its prompts carry the record's measured values
        self.lm_ref = lm_ref  # as in ecglm.json: "lm" (the bundle's compact LM), a dir or a name
        self.tokenizer = tokenizer
        self.projector = projector
        self.ecg_token_id = ensure_ecg_token(tokenizer)
        self.fill_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
            tokenizer.eos_token_id or 0
        )
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @property
    def n_features(self) -> int:
        return self.projector.config.n_features

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    @property
    def context_length(self) -> int | None:
        """How many positions the LM reads (None when its config does not say)."""
        return getattr(self.lm.config, "max_position_embeddings", None)

    def _room_to_answer(self, prompt_len: int, max_new_tokens: int) -> int:
        """New tokens that fit after a prompt; a prompt that leaves no room is refused.

        Past its trained positions a small LM writes fluent-looking nonsense, so a question
        that does not fit is an error rather than a silently wrong answer.
        """
        limit = self.context_length
        if limit is None:
            return max_new_tokens
        if prompt_len >= limit:
            raise QuestionError(
                f"the question is too long for this language model: the prompt is {prompt_len} "
                f"tokens ({self.n_features} of them the ECG), and it reads at most {limit - 1} "
                "before answering"
            )
        return min(max_new_tokens, limit - prompt_len)

    def embed(
        self, input_ids: torch.Tensor, tokens: torch.Tensor, logits: torch.Tensor | None
    ) -> torch.Tensor:
        """Prompt embeddings with the projected ECG features at the `<ecg>` positions."""
        mask = input_ids == self.ecg_token_id
        features = self.projector(tokens, logits)
        expected = int(mask.sum())
        if expected != features.shape[0] * features.shape[1]:
            raise ModelError(
                f"the prompt holds {expected} {ECG_TOKEN} placeholders but the ECG gives "
                f"{features.shape[0] * features.shape[1]} features "
                f"({features.shape[1]} per record)"
            )
        ids = input_ids.masked_fill(mask, self.fill_id)
        embeds = self.lm.get_input_embeddings()(ids)
        features = features.to(embeds.dtype)
        return embeds.masked_scatter(mask.unsqueeze(-1).expand_as(embeds), features)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        tokens: torch.Tensor,
        logits: torch.Tensor | None,
        labels: torch.Tensor | None = None,
    ) -> Any:
        embeds = self.embed(input_ids, tokens, logits)
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels)

    def encode_prompts(
        self, questions: list[str], contexts: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenise prompts, left-padded so that generation continues every row at the end."""
        contexts = contexts or [""] * len(questions)
        prompts = [build_prompt(self.tokenizer, q, self.n_features, c)
                   for q, c in zip(questions, contexts, strict=True)]
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            batch = self.tokenizer(
                prompts, return_tensors="pt", padding=True, add_special_tokens=False
            )
        finally:
            self.tokenizer.padding_side = side
        return {k: v.to(self.device) for k, v in batch.items()}

    @torch.no_grad()
    def generate(
        self,
        questions: list[str],
        tokens: torch.Tensor,
        logits: torch.Tensor | None,
        max_new_tokens: int = 64,
        on_token: Callable[[int], None] | None = None,
        contexts: list[str] | None = None,
    ) -> list[str]:
        """Greedy answers, one per (question, ECG) row; `contexts`: each row's measured values."""
        batch = self.encode_prompts(questions, contexts)
        max_new_tokens = self._room_to_answer(batch["input_ids"].shape[1], max_new_tokens)
        embeds = self.embed(batch["input_ids"], tokens.to(self.device),
                            None if logits is None else logits.to(self.device))
        from transformers import GenerationConfig

        # greedy, whatever the LM's own generation_config.json asks (its `stop_strings` made
        # generate fail, and its sampling settings printed transformers' warnings)
        greedy = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
        )
        out = self.lm.generate(
            inputs_embeds=embeds,
            attention_mask=batch["attention_mask"],
            generation_config=greedy,
            tokenizer=self.tokenizer,  # stop strings in the LM's own config need it
            streamer=_CallbackStreamer(on_token) if on_token else None,
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    @torch.no_grad()
    def next_token_logits(
        self, questions: list[str], tokens: torch.Tensor, logits: torch.Tensor | None,
        contexts: list[str] | None = None,
    ) -> torch.Tensor:
        """Logits of the first answer token, [B, vocab] (for yes-probabilities)."""
        batch = self.encode_prompts(questions, contexts)
        self._room_to_answer(batch["input_ids"].shape[1], 1)
        out = self.forward(batch["input_ids"], batch["attention_mask"],
                           tokens.to(self.device),
                           None if logits is None else logits.to(self.device))
        return out.logits[:, -1, :].float()


@dataclass
class LMParts:
    """What `ecglm.json` records: which LM the projector was trained for, and its shapes."""

    lm: str  # "lm" for the compact LM inside the bundle, else a local dir or a model name
    projector: dict[str, Any]
    format_version: int = LM_PARTS_VERSION
    trained: dict[str, Any] = field(default_factory=dict)
    lora_rank: int = 0  # > 0: a LoRA adapter for the (pretrained) LM is in `lora/`
    measured: bool = False  # prompts carry the record's measured values (`measured_context`)


def save_lm_parts(model: ECGLM, bundle_dir: Path, lm_ref: str, trained: dict[str, Any]) -> None:
    """Write the projector (and the compact LM, when it is the bundle's own, or the LM's LoRA
    adapter, when it has one) into a bundle: first whole into a staging folder, then moved into
    place by renames, `ecglm.json` last. Written in place, a full disk left a new epoch's LM
    beside the previous projector and `ecglm.json`, which `ask` loaded without a word."""
    from safetensors import SafetensorError

    from ecglm_cli.models.bundle import write_json
    from ecglm_cli.models.lora import LORA_DIR, lora_rank, save_lora
    from ecglm_cli.models.weights import readable_as_umask, save_weights

    bundle_dir = Path(bundle_dir)
    stage = bundle_dir / STAGING_DIR
    rank = lora_rank(model.lm)
    try:
        shutil.rmtree(stage, ignore_errors=True)  # left by a write that failed
        stage.mkdir(parents=True)
        if lm_ref == BUNDLED_LM_DIR:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            model.lm.save_pretrained(stage / BUNDLED_LM_DIR, safe_serialization=True)
            model.tokenizer.save_pretrained(stage / BUNDLED_LM_DIR)
            for weights in (stage / BUNDLED_LM_DIR).glob("*.safetensors"):
                readable_as_umask(weights)
        if rank:
            save_lora(model.lm, stage / LORA_DIR)
        state = {k: v.detach().cpu().contiguous()
                 for k, v in model.projector.state_dict().items()}
        save_weights(state, stage / PROJECTOR_FILE)
        parts = LMParts(lm=lm_ref, projector=asdict(model.projector.config), trained=trained,
                        lora_rank=rank, measured=model.measured)
        write_json(stage / LM_PARTS_FILE, asdict(parts))
        # a LoRA of an earlier LM goes too; ecglm.json last
        names = [name for name in (BUNDLED_LM_DIR, LORA_DIR, PROJECTOR_FILE, LM_PARTS_FILE)
                 if (stage / name).exists() or name == LORA_DIR]
        _move_into_place(stage, bundle_dir, names)
        shutil.rmtree(stage, ignore_errors=True)
    except (OSError, SafetensorError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelError(f"{bundle_dir}: cannot write the language model's parts ({reason}); "
                         "the bundle keeps those of the last epoch written") from None
    (bundle_dir / LM_THRESHOLDS_FILE).unlink(missing_ok=True)  # chosen for the previous LM


def _move_into_place(stage: Path, target: Path, names: list[str]) -> None:
    """Move each of `names` from `stage` into `target` (a name missing from `stage` is
    removed from `target`), the one it replaces kept in `stage` as NAME.old until all are
    moved; on a failure those moved are put back, so `target` keeps all its old parts."""
    moved: list[str] = []
    try:
        for name in names:
            if (target / name).exists():
                os.replace(target / name, stage / f"{name}.old")
            moved.append(name)
            if (stage / name).exists():
                os.replace(stage / name, target / name)
    except OSError:
        for name in reversed(moved):
            if not (stage / name).exists() and (target / name).exists():  # the new one went in
                _remove(target / name)
            if (stage / f"{name}.old").exists():
                os.replace(stage / f"{name}.old", target / name)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def save_lm_thresholds(bundle_dir: Path, thresholds: dict[str, float],
                       chosen_on: dict[str, Any]) -> Path:
    """Write the P(yes) thresholds of LM detection (statement code -> cut) into a bundle."""
    from ecglm_cli.models.bundle import write_json

    path = Path(bundle_dir) / LM_THRESHOLDS_FILE
    write_json(path, {"chosen_on": chosen_on,
                      "thresholds": {k: round(float(v), 6) for k, v in sorted(thresholds.items())}})
    return path


def read_lm_thresholds(bundle_dir: Path) -> dict[str, float]:
    """The bundle's LM-detection thresholds; empty when it has none (decide at P(yes) 0.5)."""
    path = Path(bundle_dir) / LM_THRESHOLDS_FILE
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())["thresholds"]
        thresholds = {str(code): float(cut) for code, cut in raw.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelError(f"{path}: not a valid {LM_THRESHOLDS_FILE} ({exc})") from exc
    if not all(0.0 <= cut <= 1.0 for cut in thresholds.values()):
        raise ModelError(f"{path}: thresholds must lie between 0 and 1")
    return thresholds


def read_lm_parts(bundle_dir: Path) -> LMParts:
    path = Path(bundle_dir) / LM_PARTS_FILE
    if not path.is_file():
        raise ModelError(
            f"{bundle_dir}: this bundle has no language model; train one with "
            "`ecglm train align` and `ecglm train instruct`"
        )
    try:
        raw = json.loads(path.read_text())
        parts = LMParts(**raw)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path}: not a valid {LM_PARTS_FILE} ({exc})") from exc
    if not isinstance(parts.lora_rank, int) or parts.lora_rank < 0:
        raise ModelError(f"{path}: lora_rank must be a whole number >= 0")
    if not isinstance(parts.measured, bool):
        raise ModelError(f"{path}: measured must be true or false")
    if parts.format_version != LM_PARTS_VERSION:
        raise ModelError(
            f"{path}: format version {parts.format_version}, this ecglm reads {LM_PARTS_VERSION}"
        )
    return parts


def load_lm_parts(bundle_dir: Path, llm: str | None = None, trainable: bool = False,
                  bundle: Any = None) -> ECGLM:
    """Load the LM and projector stored with a bundle; `llm` must match what it was trained for,
    and the projector must read `bundle`'s encoder (when given) exactly.

    A LoRA adapter is merged into the LM for inference, or kept apart when `trainable`.
    """
    from ecglm_cli.models.lm_loader import load_causal_lm
    from ecglm_cli.models.lora import LORA_DIR, load_lora

    bundle_dir = Path(bundle_dir)
    parts = read_lm_parts(bundle_dir)
    if llm is not None and llm != parts.lm and not (
        parts.lm == BUNDLED_LM_DIR and llm in ("compact", BUNDLED_LM_DIR)
    ):
        from ecglm_cli.cache import resolve

        resolve(llm, kind="llm")  # a name that is no LM at all says so, not "trained for"
        trained_for = ("the compact LM (--llm compact)" if parts.lm == BUNDLED_LM_DIR
                       else f"LM {parts.lm!r}")
        raise ModelError(
            f"{bundle_dir}: the projector was trained for {trained_for}, not {llm!r}; train "
            f"one with `ecglm train align --llm {llm} --bundle {bundle_dir} --out NEW_BUNDLE`"
        )
    config = _projector_config(bundle_dir / LM_PARTS_FILE, parts.projector, bundle)
    source = str(bundle_dir / BUNDLED_LM_DIR) if parts.lm == BUNDLED_LM_DIR else parts.lm
    lm, tokenizer = load_causal_lm(source)
    _check_chat_template(source, tokenizer)
    if parts.lora_rank:
        lm = load_lora(lm, bundle_dir / LORA_DIR, trainable)
    hidden = lm.get_input_embeddings().embedding_dim
    if config.lm_hidden != hidden:
        raise ModelError(
            f"{bundle_dir}: projector width {config.lm_hidden} does not match LM width {hidden}"
        )
    projector = ECGProjector(config)
    _load_projector_weights(projector, bundle_dir / PROJECTOR_FILE)
    model = ECGLM(lm, tokenizer, projector, parts.lm, parts.measured)
    model.eval()
    return model


def _check_chat_template(source: str, tokenizer: Any) -> None:
    """A chat template that cannot render a prompt fails at load, naming the LM, rather than at
    the first question with a bare jinja2 error."""
    from jinja2 import TemplateError

    try:
        build_prompt(tokenizer, "Is this ECG normal?", 1)
    except (TemplateError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ModelError(f"{source}: its chat template cannot build a prompt "
                         f"({type(exc).__name__}: {exc})") from None


def _projector_config(where: Path, raw: Any, bundle: Any) -> ProjectorConfig:
    """The projector's shapes from ecglm.json, checked before anything is allocated from them
    (an `encoder_dim` of 10**9 asked for 128 GB), and, with `bundle`, checked to read its
    encoder: the same width, tokens and head outputs in the same order."""
    try:
        config = ProjectorConfig(**raw)
    except TypeError as exc:
        raise ModelError(f"{where}: bad projector config ({exc})") from None
    for name in ("encoder_dim", "n_encoder_tokens", "lm_hidden"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65536:
            raise ModelError(f"{where}: projector {name} {value!r} is not a whole number from 1 "
                             "to 65536")
    if not isinstance(config.statements, list) or not all(
            isinstance(name, str) for name in config.statements):
        raise ModelError(f"{where}: projector statements must be a list of names")
    if bundle is not None:
        from ecglm_cli.pipeline.ecg_features import feature_statements

        reads = (bundle.config.embed_dim, bundle.config.n_tokens, feature_statements(bundle))
        if (config.encoder_dim, config.n_encoder_tokens, config.statements) != reads:
            raise ModelError(f"{where}: its projector was trained on another encoder than the one "
                             f"in {bundle.path} (other widths, tokens or head outputs)")
    return config


def _load_projector_weights(projector: ECGProjector, path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    check_readable(path)
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise ModelError(f"{path}: truncated or corrupt projector weights ({exc})") from None
    expected = projector.state_dict()
    if set(state) != set(expected):
        raise ModelError(f"{path}: projector tensors {sorted(state)} != {sorted(expected)}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ModelError(
                f"{path}: {name} shaped {tuple(tensor.shape)}, "
                f"expected {tuple(expected[name].shape)}"
            )
        if not tensor.is_floating_point():
            raise ModelError(f"{path}: {name} is {tensor.dtype}, not floating point")
    bad = first_not_finite(state.items())
    if bad:
        raise ModelError(f"{path}: {bad} holds values that are not numbers")
    projector.load_state_dict(state)
