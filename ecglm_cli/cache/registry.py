"""The built-in list of models `ecglm download` knows by name, read from `registry.json`.

The registry is data, not code, so adding or re-pinning a model is a one-line change that
tests can check. Every entry is pinned to a revision: a name always means the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

KINDS = ("ecg-bundle", "llm")
KIND_LABELS = {"ecg-bundle": "an ECG bundle", "llm": "a language model"}


@dataclass(frozen=True)
class RegistryEntry:
    """One named model: where it comes from, which revision, how big, under which licence."""

    name: str
    kind: str
    source: str  # "builtin" (inside the package) or "hf" (Hugging Face Hub)
    revision: str
    licence: str
    description: str
    size_bytes: int | None = None
    repo_id: str | None = None
    package_dir: str | None = None
    note: str | None = None

    @property
    def builtin_path(self) -> Path:
        """Where a built-in entry lives inside the installed package."""
        if self.package_dir is None:
            raise ValueError(f"{self.name} is not a built-in model")
        return Path(str(resources.files("ecglm_cli"))) / self.package_dir


@lru_cache(maxsize=1)
def load_registry() -> dict[str, RegistryEntry]:
    """Name -> entry, in file order."""
    text = resources.files("ecglm_cli.cache").joinpath("registry.json").read_text("utf-8")
    data = json.loads(text)
    entries = [RegistryEntry(**item) for item in data["models"]]
    for entry in entries:  # a broken registry is a packaging bug: fail loudly in tests
        if entry.kind not in KINDS or (entry.source == "hf") != (entry.repo_id is not None):
            raise ValueError(f"registry.json: bad entry {entry.name!r}")
    return {entry.name: entry for entry in entries}


def get_entry(name: str) -> RegistryEntry | None:
    """The registry entry called `name` (case-insensitive), or None."""
    return load_registry().get(name.lower())

