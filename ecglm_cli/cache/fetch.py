"""`ecglm download NAME`: put a model in the cache (or find it there) and say where it is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ecglm_cli.cache.offline import is_offline, offline_error
from ecglm_cli.cache.resolve import builtin_path, find_cached
from ecglm_cli.cache.spec import ModelSpec, unknown_model
from ecglm_cli.cache.store import Store
from ecglm_cli.errors import DownloadError


@dataclass(frozen=True)
class Fetched:
    name: str  # what to pass as --model/--llm
    path: Path
    already_cached: bool


def fetch(
    spec: ModelSpec, cache_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
) -> Fetched:
    """Make `spec` available locally. Offline, only the cache is consulted."""
    if spec.source == "builtin":
        return Fetched(spec.text, builtin_path(spec), True)
    store = Store.open(cache_dir)
    if spec.source == "url" and spec.url and not spec.sha256:
        raise DownloadError(
            f"refusing to download {spec.url} without --sha256: a URL bundle must be checked "
            "against the archive's sha256 (sha256sum FILE)"
        )
    use_name = spec.text if spec.entry is not None or spec.source == "hf" else spec.cache_name
    cached = find_cached(spec, store)
    if cached is None and spec.cache_only:
        raise unknown_model(spec.text)
    if cached is not None and (spec.source == "url" or _pinned(spec.revision)):
        return Fetched(use_name, cached.path, True)
    if is_offline():
        if cached is not None:  # a branch name: the cached copy is the best we can do
            return Fetched(use_name, cached.path, True)
        hint = spec.text + (f" --sha256 {spec.sha256}" if spec.sha256 else "")
        raise offline_error(hint, cache_dir)
    if spec.url is not None:
        from ecglm_cli.cache.http import fetch_bundle

        entry, downloaded = fetch_bundle(spec.url, spec.sha256 or "", store)
    else:
        from ecglm_cli.cache.hub import fetch_repo

        entry, downloaded = fetch_repo(
            spec.cache_name, spec.revision, store, endpoint, spec.kind or "llm"
        )
    return Fetched(use_name, entry.path, not downloaded)


def _pinned(revision: str | None) -> bool:
    from ecglm_cli.cache.hub import COMMIT

    return revision is not None and COMMIT.fullmatch(revision) is not None
