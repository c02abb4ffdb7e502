"""Bundle archives over plain HTTP(S), checked against a sha256 the user supplies.

The archive is written to `tmp/<name>-<sha>.part` in the cache. A dropped connection leaves the
part file; the next run asks the server for the rest with a Range request and restarts from zero
when the server does not support ranges. Only an archive whose sha256 matches is unpacked, and
only a fully unpacked, manifested folder is renamed into `models/`; anything else is deleted.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ecglm_cli import __version__
from ecglm_cli.cache.archive import safe_extract, strip_archive_suffix
from ecglm_cli.cache.store import FILES, LOCAL_NAME, SHA256, CachedModel, Store, slug
from ecglm_cli.errors import DownloadError
from ecglm_cli.progress import Progress

MAX_ARCHIVE_BYTES = 16 * 1024**3
CHUNK = 1 << 16
TIMEOUT_S = 30  # no byte for this long: the connection is lost
# fewer bytes than this in a whole window: the server only drips (each byte resets the socket
# timeout, so 1 byte/s would otherwise take weeks)
SLOW_WINDOW_S = 60.0
SLOW_MIN_BYTES = 64 * 1024


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def bundle_name(url: str) -> str:
    """The cache name of a URL bundle: the archive's file name without its archive suffix."""
    try:
        path = urllib.parse.urlsplit(url).path
    except ValueError as exc:  # "Invalid IPv6 URL", which named no URL
        raise DownloadError(f"{url}: not a valid URL ({exc})") from None
    file_name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    name = strip_archive_suffix(file_name)
    if name is None:
        raise DownloadError(
            f"{url}: the URL must end in an archive file name (.tar.gz, .tgz, .tar, .zip, ...)"
        )
    if not LOCAL_NAME.fullmatch(name):
        raise DownloadError(
            f"{url}: archive name {name!r} must use only letters, digits, '.', '_' and '-'"
        )
    return name


def check_sha256(value: str | None, url: str) -> str:
    if not value:
        raise DownloadError(
            f"refusing to download {url} without --sha256: a URL bundle must be checked "
            "against the archive's sha256 (sha256sum FILE)"
        )
    value = value.strip().lower().removeprefix("sha256:")
    if not SHA256.fullmatch(value):
        raise DownloadError(f"--sha256 must be 64 hexadecimal digits, got {value!r}")
    return value


def fetch_bundle(
    url: str, sha256: str, store: Store, kind: str = "ecg-bundle"
) -> tuple[CachedModel, bool]:
    """Download, check and unpack the archive at `url` into the cache, or find it there
    (perhaps put there by a concurrent download we waited for); True when downloaded now."""
    sha256 = check_sha256(sha256, url)
    name = bundle_name(url)
    revision = f"sha256-{sha256[:16]}"
    with store.lock(name):
        cached = store.find(name, revision)
        if cached is not None:
            return cached, False
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        part = store.tmp_dir / f"{slug(name)}-{sha256[:16]}.part"
        _download(url, part, sha256, name)
        staging = store.staging_dir(name)
        try:
            (staging / FILES).mkdir()
            root = safe_extract(part, staging / FILES)
            info = {"kind": kind, "source": "url", "url": url, "archive_sha256": sha256,
                    "root": root}
            installed = store.install(staging, name, revision, info)
        except OSError as exc:  # the cache's disk (full, read-only): the archive is fine
            raise DownloadError(
                f"cannot unpack {name} into {store.root}: {exc.strerror or exc}; the checked "
                f"archive is kept ({part.stat().st_size:,} bytes in {part.parent}), so the same "
                "command finishes without downloading it again") from None
        except Exception:  # a verified archive that cannot be unpacked would fail again
            part.unlink(missing_ok=True)
            raise
        finally:  # an interrupt keeps the verified archive: the rerun unpacks it, no download
            shutil.rmtree(staging, ignore_errors=True)
        part.unlink(missing_ok=True)
        return installed, True


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"ecglm/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:  # our partial file does not fit the server's: restart
            raise _RangeRefused() from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}") from exc


def _hash_into(digest: hashlib._Hash, path: Path) -> int:
    """Feed the file to `digest`; return its size."""
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size


class RateWindow:
    """Refuses a transfer that delivers under `SLOW_MIN_BYTES` in `SLOW_WINDOW_S` seconds (for
    URL bundles here, and for Hub files by `hub.TransferWatch`)."""

    def __init__(self, label: str, done: int, hint: str = ""):
        self.label, self.hint = label, hint
        self.start, self.done = time.monotonic(), done

    def check(self, done: int) -> None:
        now = time.monotonic()
        if now - self.start < SLOW_WINDOW_S:
            return
        if done - self.done < SLOW_MIN_BYTES:
            raise DownloadError(
                f"{self.label}: only {done - self.done} bytes arrived in the last "
                f"{now - self.start:.0f} s (the server is too slow){self.hint}"
            )
        self.start, self.done = now, done


def _regular_part(part: Path) -> bool:
    """Whether an earlier run left a partial download at `part` to resume. Anything there that
    is not a plain file is not ours: a symlink is removed, never followed (the download was
    appended to whatever it pointed at, outside the cache), and anything else is refused."""
    try:
        mode = part.lstat().st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        part.unlink()
        return False
    if not stat.S_ISREG(mode):
        raise DownloadError(f"{part}: in the way of the download and not a file; remove it")
    return True


def _open_part(part: Path, append: bool):
    """The partial download, opened without following a symlink put there meanwhile."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(part, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    return open(fd, "ab" if append else "wb", buffering=0)


class _RangeRefused(Exception):
    """The server answered 416 to our resume request."""


def _download(url: str, part: Path, sha256: str, label: str) -> None:
    """Fill `part` with the archive, resuming what an earlier run left; check its sha256."""
    digest = hashlib.sha256()
    offset = _hash_into(digest, part) if _regular_part(part) else 0
    if offset and digest.hexdigest() == sha256:
        return  # an earlier run got every byte but stopped before unpacking
    try:
        response = _open(url, offset)
    except _RangeRefused:
        part.unlink()
        offset, digest = 0, hashlib.sha256()
        response = _open(url, 0)
    with response:
        content_range = response.headers.get("Content-Range", "")
        if not (offset and response.status == 206 and content_range.startswith(f"bytes {offset}-")):
            offset, digest = 0, hashlib.sha256()  # the server sends the whole file: start again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        if total is not None and total > MAX_ARCHIVE_BYTES:
            raise DownloadError(f"{url}: {total} bytes is more than the {MAX_ARCHIVE_BYTES} limit")
        progress = Progress(total, label, unit="bytes", done=offset)
        try:
            with _open_part(part, append=bool(offset)) as out:
                window = RateWindow(url, progress.done, "; what arrived is kept, and the "
                                    "same command resumes from it")
                for chunk in iter(lambda: response.read1(CHUNK), b""):  # what has arrived
                    window.check(progress.done)
                    if progress.done + len(chunk) > MAX_ARCHIVE_BYTES:
                        part.unlink(missing_ok=True)
                        raise DownloadError(f"{url}: more than {MAX_ARCHIVE_BYTES} bytes")
                    try:
                        out.write(chunk)
                    except OSError as exc:  # not the connection: a full disk, a quota
                        part.unlink(missing_ok=True)
                        raise DownloadError(
                            f"cannot write the download to {part.parent}: "
                            f"{exc.strerror or exc}; the partial file was removed"
                        ) from None
                    digest.update(chunk)
                    progress.update(len(chunk))
            if total is not None and progress.done < total:  # http.client reports early EOF
                raise http.client.IncompleteRead(b"", total - progress.done)  # as a short read
        except (http.client.HTTPException, OSError) as exc:
            raise DownloadError(
                f"connection to {url} lost after {progress.done} of "
                f"{total if total is not None else '?'} bytes ({type(exc).__name__}); "
                "run the same command again to resume"
            ) from exc
        finally:
            progress.close()
    actual = digest.hexdigest()
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"sha256 mismatch for {url}: expected {sha256}, got {actual}; the download was "
            "discarded and nothing was cached"
        )
