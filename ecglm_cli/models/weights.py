"""The checks every weights file passes before its tensors are used, in one place: the encoder,
the projector and the language model are loaded by three loaders, and training writes weights.

A file that cannot be opened is named as such, not as "truncated or corrupt": safetensors reads
through its own Rust code, whose errors ("No such device (os error 19)" for a folder) say
nothing of the cause. A weight that holds NaN or infinity is refused: an encoder weight set to
NaN made `classify` print every probability as null, with no finding and exit 0.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

import torch

from ecglm_cli.errors import ModelError


def check_readable(path: Path) -> None:
    """A `ModelError` naming `path` unless it is a regular file this process can open."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise ModelError(f"{path}: not a regular file")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def first_not_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating-point tensor holding NaN or infinity, or None."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def save_weights(tensors: dict[str, torch.Tensor], path: Path,
                 metadata: dict[str, str] | None = None) -> None:
    """`safetensors.torch.save_file`, then `readable_as_umask`."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    readable_as_umask(path)


def readable_as_umask(path: Path) -> None:
    """Give a written weights file the mode the umask gives other files: safetensors 0.8 writes
    0600, so a bundle trained on a shared server could not be read by colleagues or a service
    account, though its JSON files could."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)

