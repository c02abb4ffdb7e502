"""The on-disk model cache: where it is, how it is laid out, and how entries are checked.

Layout under the cache root::

    models/<name>/<revision>/manifest.json   what is there: sha256 and size of every file
    models/<name>/<revision>/files/...       the model itself
    locks/<name>.lock                        one writer per model at a time
    tmp/                                     partial downloads and staging folders

`<name>` is the model name with `/` written as `--` (Hub repo ids). An entry appears only by an
atomic rename of a complete staging folder that already holds its manifest, so a folder with a
manifest is always complete; anything else under `tmp/` is work in progress or debris.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecglm_cli.errors import DownloadError, ModelError
from ecglm_cli.safe_paths import UnsafePathError, relative_parts

ENV_CACHE_DIR = "ECGLM_CACHE_DIR"
MANIFEST = "manifest.json"
FILES = "files"
MANIFEST_FORMAT = 1

_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
LOCAL_NAME = re.compile(_PART)
REPO_ID = re.compile(f"{_PART}/{_PART}")
REVISION = re.compile(_PART)
SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`--cache-dir`, then `$ECGLM_CACHE_DIR`, then the platform's user cache folder."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ecglm"))


def check_name(name: str) -> str:
    """A cache name is a plain file name (URL bundles) or `owner/repo` (Hub); nothing else."""
    if not (LOCAL_NAME.fullmatch(name) or REPO_ID.fullmatch(name)) or ".." in name:
        raise ModelError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
            "(and one '/' for a Hugging Face repo id)"
        )
    return name


def slug(name: str) -> str:
    return check_name(name).replace("/", "--")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_table(files_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every regular file under `files_dir`, keyed by '/'-joined path."""
    table: dict[str, dict[str, Any]] = {}
    for path in sorted(files_dir.rglob("*")):
        if path.is_symlink():
            raise DownloadError(f"refusing a symbolic link in a download: {path}")
        if path.is_file():
            key = path.relative_to(files_dir).as_posix()
            table[key] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return table


@dataclass(frozen=True)
class CachedModel:
    """A complete cache entry, described by its manifest."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def revision(self) -> str:
        return self.folder.name

    @property
    def path(self) -> Path:
        """The folder a loader should open (the single top-level folder of an archive, if any)."""
        return self.folder / FILES / self.manifest.get("root", "")

    @property
    def size_bytes(self) -> int:
        return sum(item["size"] for item in self.manifest["files"].values())


class Store:
    """One cache root; every method is safe to call while other processes use the same root."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.models_dir = self.root / "models"
        self.tmp_dir = self.root / "tmp"
        self.locks_dir = self.root / "locks"

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str] | None = None) -> Store:
        return cls(cache_root(cache_dir))

    # -- reading -----------------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path | None:
        """The model's folder: spelled exactly as `name`, else the one that differs only in
        case (Hub repo ids are case-insensitive). Case-insensitive alone, `Small` found the
        folder of a different bundle `small`."""
        wanted = slug(name)
        if not self.models_dir.is_dir():
            return None
        if (self.models_dir / wanted).is_dir():
            return self.models_dir / wanted
        for child in sorted(self.models_dir.iterdir()):
            if child.name.lower() == wanted.lower() and child.is_dir():
                return child
        return None

    def _entries(self, model_dir: Path) -> Iterator[CachedModel]:
        for folder in sorted(model_dir.iterdir()):
            manifest = read_manifest(folder)
            if manifest is not None:
                yield CachedModel(folder, manifest)

    def find(self, name: str, revision: str | None = None) -> CachedModel | None:
        """The cached `name` at `revision` (a folder name or the ref it was asked for as);
        without a revision, the most recently downloaded one."""
        model_dir = self._model_dir(name)
        if model_dir is None:
            return None
        entries = list(self._entries(model_dir))
        if revision is not None:
            entries = [e for e in entries if revision in (e.revision, e.manifest.get("ref"))]
        if not entries:
            return None
        return max(entries, key=lambda e: e.manifest.get("created", ""))

    def all(self) -> list[CachedModel]:
        if not self.models_dir.is_dir():
            return []
        found: list[CachedModel] = []
        for model_dir in sorted(self.models_dir.iterdir()):
            if model_dir.is_dir():
                found.extend(self._entries(model_dir))
        return found

    def damaged(self, name: str | None = None, revision: str | None = None) -> list[Path]:
        """Folders in models/ (of `name` at `revision`, or all) with no valid manifest.
        Downloads never leave one (the manifest is written before the rename), so each was
        damaged or edited after: invisible to `find`, they made `--verify` report "nothing
        cached" and exit 0."""
        if name is None:
            model_dirs = sorted(self.models_dir.iterdir()) if self.models_dir.is_dir() else []
        else:
            model_dirs = [d for d in [self._model_dir(name)] if d is not None]
        return [folder for model_dir in model_dirs if model_dir.is_dir()
                for folder in sorted(model_dir.iterdir())
                if folder.is_dir() and revision in (None, folder.name)
                and read_manifest(folder) is None]

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the per-model lock; a second downloader of the same model waits here."""
        from filelock import FileLock, Timeout

        self._make(self.locks_dir)
        path = self.locks_dir / f"{slug(name)}.lock"
        lock = FileLock(str(path))
        try:
            try:
                lock.acquire(timeout=0.5)
            except Timeout:
                print(f"waiting for another ecglm download of {name} to finish...",
                      file=sys.stderr)
                lock.acquire()
        except OSError as exc:  # another user's lock in a shared cache, a read-only cache
            raise DownloadError(f"{path}: cannot take the download lock: "
                                f"{exc.strerror or exc}") from None
        try:
            yield
        finally:
            lock.release()

    def staging_dir(self, label: str) -> Path:
        """A fresh private folder under tmp/, on the same file system as the cache. Called
        under `lock(label)`, so an older folder of the same label is what a killed run left
        (up to a whole unpacked model each time): it is removed first."""
        self._make(self.tmp_dir)
        mine = re.compile(re.escape(slug(label)) + r"-[a-z0-9_]{8}")  # mkdtemp's names only
        for stale in self.tmp_dir.iterdir():
            if mine.fullmatch(stale.name) and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{slug(label)}-", dir=self.tmp_dir))

    def _make(self, folder: Path) -> None:
        """Create a cache folder; a cache path that is a file, or one we may not write, is
        one line naming it and the way to choose another."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError(
                f"cannot write the model cache at {self.root}: {exc.strerror or exc} (choose "
                "another folder with --cache-dir or ECGLM_CACHE_DIR)"
            ) from None

    def install(self, staging: Path, name: str, revision: str, info: dict[str, Any]) -> CachedModel:
        """Write the manifest into `staging` (which holds `files/`) and rename it into place.

        The caller holds `lock(name)`, so nobody else is installing this model right now."""
        if not REVISION.fullmatch(revision):
            raise DownloadError(f"invalid revision {revision!r} for {name}")
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": name,
            **info,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": file_table(staging / FILES),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        target = self.models_dir / slug(name) / revision
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # an earlier entry without a valid manifest: debris, replace it
            self._discard(target)
        try:
            os.replace(staging, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # models/ was moved to another disk behind a symlink: a rename from tmp/ cannot
            # reach it (the checked download was thrown away). Copy beside the target, where
            # the rename is atomic again; a copy cut short is a folder without a manifest.
            near = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
            try:
                shutil.copytree(staging, near / "entry")
                os.replace(near / "entry", target)
            finally:
                shutil.rmtree(near, ignore_errors=True)
        return CachedModel(target, manifest)

    def remove(self, folder: Path) -> None:
        """Take an entry's folder out of `models/` at once (a rename), then delete its files."""
        self._discard(folder)
        parent = folder.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.unlink() if parent.is_symlink() else parent.rmdir()

    def _discard(self, folder: Path) -> None:
        """Delete an entry's folder, first renaming it out of `models/` so that it vanishes at
        once. A symlink (a model moved to another disk) loses only the link; a folder on
        another file system than tmp/ is deleted where it is."""
        if folder.is_symlink():
            folder.unlink()
            return
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        doomed = Path(tempfile.mkdtemp(prefix="removing-", dir=self.tmp_dir))
        try:
            os.replace(folder, doomed / "entry")
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.rmtree(folder)
        finally:
            shutil.rmtree(doomed, ignore_errors=True)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is missing, unreadable or not a manifest ecglm
    wrote (not a complete entry). Nothing in it is trusted unchecked: a `root` of "/etc" or
    "../.." made `--model NAME` open a folder outside the cache, and a file entry without a
    size crashed `--list` with KeyError."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return manifest if _well_formed(manifest) else None


def _well_formed(manifest: object) -> bool:
    """A manifest as `install` writes it: a valid name, a kind, and for every file a path
    inside the entry, a sha256 and a size."""
    if not isinstance(manifest, dict):
        return False
    name, kind, files = manifest.get("name"), manifest.get("kind"), manifest.get("files")
    if not (isinstance(name, str) and (LOCAL_NAME.fullmatch(name) or REPO_ID.fullmatch(name))
            and isinstance(kind, str) and isinstance(files, dict)):
        return False
    if not isinstance(manifest.get("root", ""), str) or not _inside(manifest.get("root", "")):
        return False
    return all(
        isinstance(key, str) and key and _inside(key) and isinstance(item, dict)
        and isinstance(item.get("sha256"), str) and SHA256.fullmatch(item["sha256"])
        and type(item.get("size")) is int and item["size"] >= 0
        for key, item in files.items()
    )


def _inside(relative: str) -> bool:
    """Whether a manifest's path stays inside the entry's files folder."""
    try:
        relative_parts(relative)
    except UnsafePathError:
        return False
    return True


def verify(entry: CachedModel) -> list[str]:
    """Re-hash every file against the manifest; the problems found, empty when all is well."""
    files_dir = entry.folder / FILES
    problems: list[str] = []
    expected = entry.manifest["files"]
    for key, item in expected.items():
        path = files_dir / key
        try:
            if path.is_symlink() or not path.is_file():
                problems.append(f"{key}: {'a symbolic link' if path.is_symlink() else 'missing'}")
            elif path.stat().st_size != item["size"]:
                problems.append(f"{key}: size {path.stat().st_size} != {item['size']}")
            elif sha256_file(path) != item["sha256"]:
                problems.append(f"{key}: sha256 does not match the manifest")
        except OSError as exc:  # one unreadable file stopped the check of every model
            problems.append(f"{key}: unreadable ({exc.strerror or exc})")
    for path in sorted(files_dir.rglob("*")):
        key = path.relative_to(files_dir).as_posix()
        if (path.is_file() or path.is_symlink()) and key not in expected:
            problems.append(f"{key}: not in the manifest")
    return problems
