"""What is known and what is cached: rows for `--list`, checks for `--verify`, `--remove`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecglm_cli.cache.registry import load_registry
from ecglm_cli.cache.spec import ModelSpec
from ecglm_cli.cache.store import CachedModel, Store, verify
from ecglm_cli.errors import ModelError
from ecglm_cli.progress import human_bytes


def _folder_size(entry_path: Any) -> int | None:
    if not entry_path.is_dir():
        return None
    return sum(p.stat().st_size for p in entry_path.rglob("*") if p.is_file())


def _source(entry: CachedModel) -> str:
    manifest = entry.manifest
    if manifest.get("source") == "url":
        return f"url:{manifest.get('url')}"
    return f"hf:{manifest.get('repo_id', entry.name)}@{entry.revision[:12]}"


def list_rows(store: Store) -> list[dict[str, Any]]:
    """One row per registry entry, then one per cached model the registry does not name."""
    rows: list[dict[str, Any]] = []
    claimed: set[str] = set()
    for reg in load_registry().values():
        if reg.source == "builtin":
            path = reg.builtin_path
            cached = path.is_dir()
            size = _folder_size(path) if cached else reg.size_bytes
            source = "builtin"
        else:
            found = store.find(reg.repo_id or "", reg.revision)
            cached = found is not None
            path = found.path if found else None
            size = found.size_bytes if found else reg.size_bytes
            source = f"hf:{reg.repo_id}@{reg.revision[:12]}"
            if found:
                claimed.add(str(found.folder))
        rows.append({
            "name": reg.name, "kind": reg.kind, "size": human_bytes(size), "size_bytes": size,
            "source": source, "revision": reg.revision, "licence": reg.licence,
            "cached": cached, "path": str(path) if cached else None,
        })
    for entry in store.all():
        if str(entry.folder) in claimed:
            continue
        rows.append({
            "name": entry.name, "kind": entry.kind, "size": human_bytes(entry.size_bytes),
            "size_bytes": entry.size_bytes, "source": _source(entry), "revision": entry.revision,
            "licence": entry.manifest.get("licence", "unknown"), "cached": True,
            "path": str(entry.path),
        })
    return rows


def matching(spec: ModelSpec, store: Store) -> list[CachedModel]:
    """Every cached entry `spec` names (all revisions when it names none)."""
    if spec.source == "builtin":
        raise ModelError(f"{spec.text} is built into ecglm, not a cache entry")
    revisions = [e for e in store.all()
                 if spec.revision is None or spec.revision in (e.revision, e.manifest.get("ref"))]
    exact = [e for e in revisions if e.name == spec.cache_name]  # `--remove Small` took `small`
    return exact or [e for e in revisions if e.name.lower() == spec.cache_name.lower()]


def verify_rows(entries: list[CachedModel]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        problems = verify(entry)
        rows.append({
            "name": entry.name, "revision": entry.revision, "files": len(entry.manifest["files"]),
            "status": "corrupt" if problems else "ok", "problems": problems,
            "path": str(entry.path),
        })
    return rows


def damaged_rows(folders: list[Path]) -> list[dict[str, Any]]:
    """`--verify` rows for folders in models/ that have no valid manifest."""
    return [{"name": folder.parent.name, "revision": folder.name, "files": None,
             "status": "no manifest",
             "problems": ["manifest.json is missing or not one ecglm wrote"],
             "path": str(folder)} for folder in folders]
