"""Offline mode: with ECGLM_OFFLINE=1 or HF_HUB_OFFLINE=1 only the cache is used."""

from __future__ import annotations

import os

from ecglm_cli.errors import OfflineError

OFFLINE_VARS = ("ECGLM_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}


def offline_variable() -> str | None:
    """The variable that switched offline mode on, or None when online."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return var
    return None


def is_offline() -> bool:
    return offline_variable() is not None


def offline_error(name: str, cache_dir: object | None = None) -> OfflineError:
    """The one-line error for a model that offline mode cannot fetch, with the command to run."""
    option = f" --cache-dir {cache_dir}" if cache_dir else ""
    return OfflineError(
        f"{name} is not in the model cache and offline mode is on ({offline_variable()}=1); "
        f"run `ecglm download {name}{option}` with network access first"
    )
