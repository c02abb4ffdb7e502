"""Safe unpacking of downloaded bundle archives (tar, tar.gz/bz2/xz, zip).

Archive contents are hostile until proven otherwise. The whole archive is refused - nothing is
written - when any member has an absolute path, a `..` component, a link, a device or other
special type, a duplicate name, or when the member count or the unpacked size exceed their
bounds. The size bound shrinks for a small archive: past 1 GiB, at most 100 times the archive's
own size may be unpacked (weights barely compress; a zip bomb's 2 MB that unpack to 2 GiB were
accepted under the 32 GiB bound alone). Only regular files and folders are written, with plain
permissions.
"""

from __future__ import annotations

import errno
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ecglm_cli.errors import DownloadError
from ecglm_cli.safe_paths import UnsafePathError, relative_parts

MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 32 * 1024**3
MAX_RATIO = 100
RATIO_FREE_BYTES = 1024**3
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")


@dataclass(frozen=True)
class Member:
    name: str
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes] | None]


def strip_archive_suffix(file_name: str) -> str | None:
    """`b.tar.gz` -> `b`; None when the name has no archive suffix we know."""
    lower = file_name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(file_name) > len(suffix):
            return file_name[: -len(suffix)]
    return None


def safe_parts(name: str, what: str = "archive member") -> tuple[str, ...]:
    """The path components of a remote file name; DownloadError for anything that could
    escape the target folder."""
    try:
        return relative_parts(name)
    except UnsafePathError as exc:
        raise DownloadError(f"refusing {what} {name!r}: {exc}") from None


def _tar_members(archive: tarfile.TarFile) -> Iterator[Member]:
    for info in archive:
        if info.issym() or info.islnk():
            raise DownloadError(f"refusing archive member {info.name!r}: links are not allowed")
        if not (info.isfile() or info.isdir()):
            raise DownloadError(f"refusing archive member {info.name!r}: not a file or folder")
        yield Member(
            info.name, info.isdir(), info.size, lambda info=info: archive.extractfile(info)
        )


def _zip_members(archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DownloadError(f"refusing archive member {info.filename!r}: links are not allowed")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: type not recorded
            raise DownloadError(f"refusing archive member {info.filename!r}: not a file or folder")
        yield Member(
            info.filename, info.is_dir(), info.file_size, lambda info=info: archive.open(info)
        )


def _copy_bounded(source: IO[bytes], target: Path, budget: int) -> int:
    written = 0
    with open(target, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            written += len(chunk)
            if written > budget:
                raise DownloadError("refusing archive: it unpacks to more than the size limit")
            out.write(chunk)
    return written


def _at_most(members: Iterator[Member], limit: int) -> list[Member]:
    """The members, listed only up to `limit`: a 15 MB tar.gz of 2 million empty members took
    1.8 GB and 142 s to list in full before its count was checked."""
    listed: list[Member] = []
    for member in members:
        if len(listed) == limit:
            raise DownloadError(f"refusing archive: more than {limit} members")
        listed.append(member)
    return listed


def _check_all(members: list[Member], max_bytes: int) -> None:
    if sum(m.size for m in members if not m.is_dir) > max_bytes:
        raise DownloadError(
            f"refusing archive: it unpacks to more than {max_bytes:,} bytes (at most "
            f"{MAX_RATIO} times its own size past {RATIO_FREE_BYTES:,}, and "
            f"{MAX_UNPACKED_BYTES:,} in all)")
    seen: set[tuple[str, ...]] = set()
    for member in members:
        parts = safe_parts(member.name)
        if not parts:
            continue
        if parts in seen and not member.is_dir:
            raise DownloadError(f"refusing archive member {member.name!r}: duplicate name")
        seen.add(parts)


# a full disk, a quota, a read-only or forbidden folder: the archive is fine
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def safe_extract(
    archive_path: Path, dest: Path, max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_UNPACKED_BYTES,
) -> str:
    """Unpack into the empty folder `dest`; return the folder a loader should open, relative
    to `dest`: the single top-level folder when the archive has one, else ''."""
    max_bytes = min(max_bytes, max(RATIO_FREE_BYTES, MAX_RATIO * archive_path.stat().st_size))
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as archive:
                _extract(_at_most(_zip_members(archive), max_members), dest, max_bytes)
        else:
            with tarfile.open(archive_path, "r:*") as archive:
                _extract(_at_most(_tar_members(archive), max_members), dest, max_bytes)
    except OSError as exc:
        if exc.errno in _WRITE_ERRORS:  # the cache's disk, not the archive
            raise
        raise DownloadError(f"cannot unpack {archive_path.name}: {exc}") from exc
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(f"cannot unpack {archive_path.name}: {exc}") from exc
    top = [p for p in dest.iterdir()]
    if not top:
        raise DownloadError(f"refusing archive {archive_path.name}: it is empty")
    return top[0].name if len(top) == 1 and top[0].is_dir() else ""


def _extract(members: list[Member], dest: Path, max_bytes: int) -> None:
    _check_all(members, max_bytes)
    budget = max_bytes
    for member in members:
        parts = safe_parts(member.name)
        if not parts:
            continue
        target = dest.joinpath(*parts)
        if member.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with member.open() as source:
            budget -= _copy_bounded(source, target, budget)
        target.chmod(0o644)
