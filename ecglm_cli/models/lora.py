"""Optional LoRA adapters for a pretrained LM (`ecglm train instruct --lora-rank N`).

A pretrained LM stays frozen by default and only the projector learns. With LoRA, low-rank
updates to every linear layer of the LM learn as well, which is how the paper adapts a 7B LM.
`peft` does the work; it is an extra (`pip install 'ecglm[lora]'`) and is imported only here.

The adapter is stored in the bundle as `lora/` in peft's own layout (`adapter_config.json`,
`adapter_model.safetensors`), so peft users can load it directly. ecglm reads it back from
safetensors only and never lets peft look anything up online.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from ecglm_cli.errors import ModelError
from ecglm_cli.models.weights import first_not_finite, readable_as_umask

LORA_DIR = "lora"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


@contextmanager
def _quiet():
    """peft calls transformers APIs that warn of their own deprecation: not the user's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise ModelError(
            "LoRA needs the peft package: pip install 'ecglm[lora]'"
        ) from None
    return peft


def add_lora(lm: nn.Module, rank: int) -> nn.Module:
    """Wrap `lm` with fresh LoRA adapters (alpha = 2 x rank) on all its linear layers."""
    peft = _peft()
    config = peft.LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    with _quiet():
        return peft.get_peft_model(lm, config)


def is_lora(lm: nn.Module) -> bool:
    return type(lm).__module__.startswith("peft.")


def lora_rank(lm: nn.Module) -> int:
    return int(lm.peft_config["default"].r) if is_lora(lm) else 0


def save_lora(lm: nn.Module, directory: Path) -> None:
    """Write the adapter (not the base LM) in peft's layout, weights as safetensors."""
    with _quiet():
        lm.save_pretrained(str(directory), safe_serialization=True)
    (Path(directory) / "README.md").unlink(missing_ok=True)  # peft's empty model-card form
    for weights in Path(directory).glob("*.safetensors"):
        readable_as_umask(weights)


def load_lora(lm: nn.Module, directory: Path, trainable: bool) -> nn.Module:
    """`lm` with the adapter in `directory`: merged into its weights for inference, or kept as
    a trainable peft model to continue training."""
    peft = _peft()
    directory = Path(directory)
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (directory / name).is_file():
            raise ModelError(f"{directory}: the LoRA adapter has no {name}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        config = peft.LoraConfig.from_pretrained(str(directory))
        state = load_file(str(directory / ADAPTER_WEIGHTS))
    except (OSError, ValueError, TypeError, SafetensorError) as exc:
        raise ModelError(f"{directory}: cannot read the LoRA adapter ({exc})") from None
    bad = first_not_finite(state.items())
    if bad:
        raise ModelError(f"{directory}: LoRA weight {bad} holds values that are not numbers")
    config.inference_mode = not trainable
    try:
        with _quiet():
            model = peft.get_peft_model(lm, config)
            result = peft.set_peft_model_state_dict(model, state)
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{directory}: the LoRA adapter does not fit this LM ({exc})") from None
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"{directory}: the LoRA adapter does not fit this LM "
            f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected tensors)"
        )
    if trainable:
        return model
    with _quiet():
        return model.merge_and_unload().eval()
