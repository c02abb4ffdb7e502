"""Load any Hugging Face causal LM and its tokenizer, from a local directory or the model cache.

Nothing is fetched here: a name that is not a local directory is looked up in the download cache
(`ecglm download NAME` puts it there; missing while offline is exit code 4), and transformers
runs with `local_files_only=True` and `trust_remote_code=False`, so only architectures that
transformers itself implements load.

The folder is hostile until checked. Its config.json is bounded before anything is built (a
`num_hidden_layers` of 1,000,000 kept `ask` building layers until it was killed), and it must
describe about as many weights as its safetensors files hold. The weights must then fill the
model exactly: transformers fills a missing tensor with random values and warns, and ecglm keeps
transformers quiet, so a bundle with one LM tensor deleted answered a yes/no question with
"atrial fibrillation" and exit 0.
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
from pathlib import Path
from typing import Any

from ecglm_cli.cache import resolve
from ecglm_cli.errors import ModelError
from ecglm_cli.models.weights import check_readable, first_not_finite

# far beyond any released LM (the largest have about 130 layers, width 16384, 256k tokens)
CONFIG_BOUNDS = {
    "num_hidden_layers": (1, 1024), "hidden_size": (8, 65536),
    "intermediate_size": (8, 1 << 20), "vocab_size": (2, 4_000_000),
    "num_attention_heads": (1, 1024), "num_key_value_heads": (1, 1024),
    "max_position_embeddings": (16, 1 << 24),
}
PARAMETER_SLACK = 4  # the size estimate below errs high by up to about 2x (GQA, tied embeddings)


def load_causal_lm(name: str) -> tuple[Any, Any]:
    """`(AutoModelForCausalLM, tokenizer)` in eval mode; every failure is a `ModelError`."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    directory = resolve(name, "llm")
    if not (Path(directory) / "config.json").is_file():
        raise ModelError(f"{directory}: not a language model folder (it has no config.json)")
    _check_config(Path(directory))
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # stderr is ours: no "Loading weights" bars
    try:
        with warnings.catch_warnings():  # stderr is ours: transformers' and torch's go
            warnings.simplefilter("ignore")
            tokenizer = AutoTokenizer.from_pretrained(
                directory, local_files_only=True, trust_remote_code=False
            )
            lm, loading = AutoModelForCausalLM.from_pretrained(
                directory, local_files_only=True, trust_remote_code=False,
                output_loading_info=True,
            )
    except pickle.UnpicklingError:
        raise ModelError(f"{directory}: its weights are a pickle that holds more than tensors; "
                         "ecglm loads safetensors, or pickles of plain tensors only") from None
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{directory}: cannot load the language model ({first})") from None
    _check_loaded(Path(directory), lm, loading)
    lm.eval()
    return lm, tokenizer


def _check_config(directory: Path) -> None:
    """Bounds on config.json's sizes, and about as many weights as they imply, before anything
    is built from them."""
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: not a model config (a JSON object is expected)")
    sizes = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    for key, (low, high) in CONFIG_BOUNDS.items():
        value = sizes.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ModelError(f"{path}: {key} {value!r} is not a whole number from {low} to {high}")
    implied = _implied_parameters(sizes)
    stored = _stored_parameters(directory, quantized="quantization_config" in config)
    if implied and stored and implied > PARAMETER_SLACK * stored + 1_000_000:
        raise ModelError(f"{path}: describes a model of about {implied:,} parameters, but its "
                         f"safetensors weights hold {stored:,}")


def _implied_parameters(sizes: dict) -> int | None:
    """About how many parameters a decoder of these sizes has (attention, MLP, embeddings)."""
    try:
        layers, hidden = sizes["num_hidden_layers"], sizes["hidden_size"]
        vocab = sizes["vocab_size"]
    except KeyError:
        return None
    inner = sizes.get("intermediate_size") or 4 * hidden
    return layers * (4 * hidden * hidden + 3 * hidden * inner) + 2 * vocab * hidden


def _stored_parameters(directory: Path, quantized: bool) -> int | None:
    """The number of values in the folder's safetensors files, from their headers. Integer
    tensors are refused unless config.json declares a quantization: transformers casts them to
    floats silently (an LM cast to int8 answered "" with exit 0)."""
    from safetensors import SafetensorError, safe_open

    total, files = 0, sorted(directory.glob("*.safetensors"))
    for file in files:
        check_readable(file)
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    tensor = handle.get_slice(key)
                    if not quantized and not tensor.get_dtype().startswith(("F", "BF")):
                        raise ModelError(f"{file}: tensor {key} is {tensor.get_dtype()}, not "
                                         "floating point, and config.json declares no "
                                         "quantization")
                    total += math.prod(tensor.get_shape())
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{file}: truncated or corrupt weights ({exc})") from None
    return total if files else None


def _check_loaded(directory: Path, lm: Any, loading: dict) -> None:
    """Every weight came from the files, with the shape the model has, and is a number."""
    problems = {  # extra tensors the model does not use change no answer, and are let be
        "missing": loading.get("missing_keys") or [],
        "of another shape": loading.get("mismatched_keys") or [],
    }
    for what, keys in problems.items():
        if keys:
            names = sorted(str(k if isinstance(k, str) else k[0]) for k in keys)
            raise ModelError(f"{directory}: its weights do not fit the model in config.json: "
                             f"{len(names)} tensor{'s' * (len(names) > 1)} {what} "
                             f"(e.g. {', '.join(names[:3])})")
    bad = first_not_finite(lm.named_parameters())
    if bad:
        raise ModelError(f"{directory}: weight {bad} holds values that are not numbers")
