"""The one way every command turns `--model`/`--llm` into a folder on disk.

`resolve()` never downloads: commands must not reach the network behind the user's back. A
name that is not cached yet fails with the `ecglm download` command to run (exit 4 offline);
a name that no download knows fails as unknown.
"""

from __future__ import annotations

import os
from pathlib import Path

from ecglm_cli.cache.offline import is_offline, offline_error
from ecglm_cli.cache.registry import KIND_LABELS
from ecglm_cli.cache.spec import ModelSpec, parse_spec, unknown_model
from ecglm_cli.cache.store import CachedModel, Store
from ecglm_cli.errors import ModelError


def find_cached(spec: ModelSpec, store: Store) -> CachedModel | None:
    """The cache entry `spec` names, if it has been downloaded."""
    if spec.source == "builtin":
        return None
    return store.find(spec.cache_name, spec.revision)


def builtin_path(spec: ModelSpec) -> Path:
    assert spec.entry is not None
    path = spec.entry.builtin_path
    if not path.is_dir():
        raise ModelError(f"the built-in model {spec.entry.name} is missing from this installation "
                         f"(expected at {path}); reinstall ecglm")
    return path


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "~", os.sep, "/")) or text.endswith(("/", os.sep)) or (
        os.sep != "/" and os.sep in text
    )


def _check_kind(text: str, actual: str | None, wanted: str | None) -> None:
    if wanted and actual and actual != wanted:
        is_a, not_a = KIND_LABELS.get(actual, actual), KIND_LABELS.get(wanted, wanted)
        raise ModelError(f"{text} is {is_a}, not {not_a}")


def resolve(
    name_or_path: str | os.PathLike[str], kind: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """A model folder for `name_or_path`: `ecglm-base` inside the package, a downloaded
    model's folder, or an existing path. `kind` ("ecg-bundle" or "llm") rejects a model of the
    other kind. ModelError when missing, OfflineError (exit 4) when missing and offline.

    A known name wins over a folder of that name in the working directory: a stray
    `./ecglm-base` silently replaced the built-in model of every command run there (its output
    still said "ecglm-base"). Text that looks like a path (`./x`, `~/x`, `/x`, `x/`) is only ever
    a path.
    """
    text = str(name_or_path)
    if not text.strip():
        raise ModelError("no model given: name a bundle folder or a model "
                         "(`ecglm download --list` shows the names)")
    if _looks_like_path(text):
        local = _expand(text)
        if local.exists():
            return local
        raise ModelError(f"{text}: no such file or folder")
    known = _known(text, kind, cache_dir)
    if known is not None:
        return known
    local = Path(text)
    if local.exists():
        return local
    spec = parse_spec(text)
    if spec.cache_only:
        raise unknown_model(text)
    if is_offline():
        raise offline_error(text, cache_dir)
    if spec.source == "hf" and spec.entry is None:  # owner/name: a folder path as well
        raise ModelError(f"{text}: no such folder, and no downloaded model of that name; if it "
                         f"is a Hugging Face repo, run `ecglm download {text}` first")
    raise ModelError(f"model {text} is not downloaded yet; run `ecglm download {text}` first")


def _known(text: str, kind: str | None, cache_dir: str | os.PathLike[str] | None) -> Path | None:
    """The folder of the built-in or downloaded model `text` names, if any."""
    try:
        spec = parse_spec(text)
    except ModelError:
        return None
    _check_kind(text, spec.kind, kind)
    if spec.source == "builtin":
        return builtin_path(spec)
    cached = find_cached(spec, Store.open(cache_dir))
    if cached is None:
        return None
    _check_kind(text, cached.kind, kind)
    return cached.path


def _expand(text: str) -> Path:
    """`~` and `~user` expanded; a home folder that cannot be found is a missing path."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        raise ModelError(f"{text}: no such file or folder (unknown home folder)") from None
