"""What a model NAME means: a registry name, a Hub repo id (`owner/repo[@revision]`) or a URL.

Parsing lives in one place so that `download`, `--verify`, `--remove` and `resolve()` agree on
which cache entry a name refers to.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecglm_cli.cache.http import bundle_name, check_sha256, is_url
from ecglm_cli.cache.hub import is_repo_id, split_repo_spec
from ecglm_cli.cache.registry import RegistryEntry, get_entry
from ecglm_cli.cache.store import LOCAL_NAME
from ecglm_cli.errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    """A parsed NAME. `cache_name`/`revision` locate it in the cache (revision None: any)."""

    text: str
    source: str  # "builtin", "hf" or "url" (also for a URL bundle named by its cache name)
    cache_name: str
    revision: str | None = None
    kind: str | None = None
    entry: RegistryEntry | None = None
    url: str | None = None
    sha256: str | None = None

    @property
    def cache_only(self) -> bool:
        """A plain name outside the registry: only a bundle already downloaded by its URL has
        one, so nothing can fetch it by that name."""
        return self.source == "url" and self.url is None


def unknown_model(text: str) -> ModelError:
    """The one error for a NAME that is nothing ecglm knows: no download can help, so it
    points at the list of names instead (exit 1, offline or not)."""
    return ModelError(
        f"unknown model {text!r}: not a built-in or registry model, a downloaded bundle or an "
        "existing folder; `ecglm download --list` shows the known names"
    )


def parse_spec(text: str, revision: str | None = None, sha256: str | None = None) -> ModelSpec:
    """Parse NAME (plus `--revision`/`--sha256`); ModelError when it names nothing we know."""
    text = text.strip()
    entry = get_entry(text)
    if entry is not None:
        if entry.source == "builtin":
            return ModelSpec(text, "builtin", entry.name, entry.revision, entry.kind, entry)
        return ModelSpec(
            text, "hf", entry.repo_id or "", revision or entry.revision, entry.kind, entry
        )
    if is_url(text):
        digest = check_sha256(sha256, text) if sha256 else None
        return ModelSpec(
            text, "url", bundle_name(text), f"sha256-{digest[:16]}" if digest else None,
            "ecg-bundle", url=text, sha256=digest,
        )
    if is_repo_id(text):
        repo_id, at_revision = split_repo_spec(text)
        if at_revision and revision and at_revision != revision:
            raise ModelError(f"{text}: the revision after '@' and --revision {revision} differ")
        return ModelSpec(text, "hf", repo_id, at_revision or revision, None)
    if LOCAL_NAME.fullmatch(text):
        return ModelSpec(text, "url", text, revision)
    raise ModelError(
        f"unknown model {text!r}: not a registry name (see `ecglm download --list`), "
        "a Hugging Face repo id (owner/name[@revision]), an http(s) URL or an existing folder"
    )
