"""Tiny real models and records for the ECG-LM tests: an encoder bundle, random LMs, WFDB files.

Everything is built here, in the test, with real code paths (save_bundle, save_lm_parts,
tokenizers trained on the spot); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.models.bundle import save_bundle
from ecglm_cli.models.encoder import ECGClassifier, EncoderConfig

SPACES = {
    "all": ["AFIB", "IMI", "NORM", "SR"],
    "rhythm": ["AFIB", "SR"],
    "subdiagnostic": ["IMI", "NORM"],
    "superdiagnostic": ["MI", "NORM"],
}
CORPUS = [
    "Does this ECG show symptoms of atrial fibrillation? yes",
    "Does this ECG show symptoms of sinus rhythm? no",
    "What rhythm-related symptoms does this ECG show? sinus rhythm; atrial fibrillation",
    "Describe this ECG. Sinus rhythm. Inferior myocardial infarction.",
    "Cannot be determined from this ECG: troponin is a blood test.",
] * 40


def make_encoder_bundle(path: Path, spaces: dict[str, list[str]] | None = None) -> Path:
    """A randomly initialised but complete encoder bundle (tiny ResNet)."""
    spaces = spaces or SPACES
    torch.manual_seed(0)
    config = EncoderConfig(width=8, n_tokens=4, label_counts={s: len(v) for s, v in spaces.items()})
    model = ECGClassifier(config).eval()
    save_bundle(
        path, model, {s: {"labels": v, "descriptions": {}} for s, v in spaces.items()},
        {s: [0.5] * len(v) for s, v in spaces.items()}, {}, {},
    )
    return path


def _plain_tokenizer():
    """A BPE tokenizer without a chat template (the prompt falls back to plain text)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    ))
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>", pad_token="<pad>")


def tiny_lm(arch: str):
    """`(lm, tokenizer)`: a 2-layer random Llama (chat template) or Qwen2 (no template)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from ecglm_cli.models.compact_lm import train_tokenizer

    torch.manual_seed(1)
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256)
    if arch == "llama":
        tokenizer = train_tokenizer(CORPUS, 400)
        config = LlamaConfig(vocab_size=len(tokenizer), **shape,
                             eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        return LlamaForCausalLM(config).eval(), tokenizer
    tokenizer = _plain_tokenizer()
    config = Qwen2Config(vocab_size=len(tokenizer), **shape, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return Qwen2ForCausalLM(config).eval(), tokenizer


def add_language_model(bundle_dir: Path, arch: str = "llama", lm_ref: str = "lm",
                       measured: bool = False) -> Path:
    """Put a random LM and projector into a bundle (`lm_ref` "lm": inside it; else a dir);
    `measured`: an LM that reads the record's measured values in its prompt."""
    from ecglm_cli.models.bundle import load_bundle
    from ecglm_cli.models.ecglm import ECGLM, ECGProjector, ProjectorConfig, save_lm_parts
    from ecglm_cli.pipeline.ecg_features import feature_statements

    bundle = load_bundle(bundle_dir)
    lm, tokenizer = tiny_lm(arch)
    if lm_ref != "lm":
        lm.save_pretrained(lm_ref)
        tokenizer.save_pretrained(lm_ref)
    torch.manual_seed(2)
    projector = ECGProjector(ProjectorConfig(
        encoder_dim=bundle.config.embed_dim, n_encoder_tokens=bundle.config.n_tokens,
        statements=feature_statements(bundle), lm_hidden=32,
    ))
    save_lm_parts(ECGLM(lm, tokenizer, projector, measured=measured), bundle_dir, lm_ref, {})
    return bundle_dir


def write_record(folder: Path, name: str, seed: int, leads=STANDARD_LEADS) -> Path:
    """A 10 s, 100 Hz WFDB record of spiky periodic beats plus noise, in millivolts."""
    import wfdb

    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 100.0
    rate = 1.0 + seed * 0.4
    beats = np.exp(-((t * rate) % 1.0 - 0.3) ** 2 / 0.002)
    signal = np.stack([beats * rng.uniform(0.3, 1.5) + 0.05 * rng.standard_normal(t.size)
                       for _ in leads], axis=1)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=100, units=["mV"] * len(leads), sig_name=list(leads),
                p_signal=signal, fmt=["16"] * len(leads), write_dir=str(folder))
    return folder / f"{name}.hea"
