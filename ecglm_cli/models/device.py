"""Where models run: the `--device` choice of every command that has one."""

from __future__ import annotations

import torch

from ecglm_cli.errors import ECGLMError


def resolve_device(name: str) -> torch.device:
    """`auto` takes a CUDA GPU when there is one; `cuda` without one is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ECGLMError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name)
