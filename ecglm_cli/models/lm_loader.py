"""Load any Hugging Face causal LM and its tokenizer, from a local directory or the model cache.

Nothing is fetched here: a name that is not a local directory is looked up in the download cache
(`ecglm download NAME` puts it there; missing while offline is exit code 4), and transformers
runs with `local_files_only=True` and `trust_remote_code=False`, so only architectures that
transformers itself implements load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecglm_cli.cache import resolve
from ecglm_cli.errors import ModelError


def load_causal_lm(name: str) -> tuple[Any, Any]:
    """`(AutoModelForCausalLM, tokenizer)` in eval mode; every failure is a `ModelError`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    directory = resolve(name, "llm")
    if not (Path(directory) / "config.json").is_file():
        raise ModelError(f"{directory}: not a language model folder (it has no config.json)")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # stderr is ours: no "Loading weights" bars
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            directory, local_files_only=True, trust_remote_code=False
        )
        lm = AutoModelForCausalLM.from_pretrained(
            directory, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"{directory}: cannot load the language model ({exc})") from None
    lm.eval()
    return lm, tokenizer
