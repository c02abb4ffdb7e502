"""Load any Hugging Face causal LM and its tokenizer, from a local directory or the model cache.

Nothing is fetched here: a name that is not a local directory goes through the download cache
(`ecglm download NAME` puts it there), and transformers runs with `local_files_only=True` and
`trust_remote_code=False`, so only architectures that transformers itself implements load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecglm_cli.errors import ModelError


def resolve_lm_dir(name: str) -> Path:
    """A local directory for `name`: the path itself, or the download cache's copy of it."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        from ecglm_cli.cache import resolve
    except ImportError:
        raise ModelError(
            f"language model {name!r} is not a local directory (this ecglm build has no model "
            "cache; give the directory of a saved Hugging Face causal LM)"
        ) from None
    return Path(resolve(name, "llm"))


def load_causal_lm(name: str) -> tuple[Any, Any]:
    """`(AutoModelForCausalLM, tokenizer)` in eval mode; every failure is a `ModelError`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    directory = resolve_lm_dir(name)
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
