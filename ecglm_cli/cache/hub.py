"""Language models from the Hugging Face Hub (or any server speaking its API, via `endpoint`).

`huggingface_hub.hf_hub_download` does the transfer, file by file, with endpoint, revision and
cache_dir always passed explicitly: its cache is only a staging area under our `tmp/hub`, from
which the files are moved into our own layout and manifest. Only safetensors weights, JSON and
tokenizer files are fetched - never pickles. File names from the Hub's listing are checked
before anything is written, and every file is checked against the listing's sha256 (LFS) or git
blob id.
"""

from __future__ import annotations

import _thread
import hashlib
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from ecglm_cli import __version__
from ecglm_cli.cache.archive import safe_parts
from ecglm_cli.cache.http import TIMEOUT_S, RateWindow
from ecglm_cli.cache.store import FILES, REPO_ID, CachedModel, Store, sha256_file
from ecglm_cli.errors import DownloadError

DEFAULT_ENDPOINT = "https://huggingface.co"
ALLOW_PATTERNS = [
    "*.safetensors", "*.json", "*tokenizer.model", "*merges.txt", "*vocab.txt", "*.tiktoken",
]
MAX_REPO_BYTES = 64 * 1024**3
COMMIT = re.compile(r"[0-9a-f]{40}")
MAX_RATE_LIMIT_WAIT_S = 60


def split_repo_spec(text: str) -> tuple[str, str | None]:
    """`owner/repo@rev` -> (`owner/repo`, `rev`); the revision is optional."""
    repo_id, _, revision = text.partition("@")
    return repo_id, revision or None


def is_repo_id(text: str) -> bool:
    return REPO_ID.fullmatch(split_repo_spec(text)[0]) is not None


def default_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


@contextmanager
def _hub_errors(repo_id: str, endpoint: str) -> Iterator[None]:
    """Turn huggingface_hub and network errors into one-line DownloadErrors."""
    import httpx2
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        yield
    except (_NoAnswer, httpx2.TimeoutException) as exc:
        raise DownloadError(f"{endpoint} did not answer within {TIMEOUT_S:g} s while "
                            f"downloading {repo_id}; try again later") from exc
    except RevisionNotFoundError as exc:
        raise DownloadError(f"{repo_id}: revision not found at {endpoint}") from exc
    except RepositoryNotFoundError as exc:
        raise DownloadError(f"{repo_id}: repository not found (or private) at {endpoint}") from exc
    except (httpx2.HTTPError, OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DownloadError(
            f"download of {repo_id} from {endpoint} failed: {type(exc).__name__}: {first}"
        ) from exc


def fetch_repo(
    repo_id: str, revision: str | None, store: Store, endpoint: str | None = None,
    kind: str = "llm",
) -> tuple[CachedModel, bool]:
    """Download `repo_id` at `revision` (default `main`) into the cache, or find it there;
    True when downloaded now."""
    from huggingface_hub import HfApi, hf_hub_download, set_client_factory
    from huggingface_hub.hf_api import RepoFile

    if not REPO_ID.fullmatch(repo_id):
        raise DownloadError(f"invalid Hugging Face repo id {repo_id!r}")
    endpoint = (endpoint or default_endpoint()).rstrip("/")
    ref = revision or "main"
    # a stored Hub token goes to the Hub only, never to another endpoint
    token = None if endpoint == DEFAULT_ENDPOINT else False
    api = HfApi(endpoint=endpoint, token=token, library_name="ecglm", library_version=__version__)
    set_client_factory(_bounded_client)
    with _hub_errors(repo_id, endpoint):
        commit = ref if COMMIT.fullmatch(ref) else api.repo_info(repo_id, revision=ref).sha
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        raise DownloadError(f"{repo_id}: the server gave an invalid commit id {commit!r}")

    with store.lock(repo_id):
        cached = store.find(repo_id, commit)
        if cached is not None:
            return cached, False
        with _hub_errors(repo_id, endpoint):
            listing = [
                f for f in api.list_repo_tree(repo_id, revision=commit, recursive=True)
                if isinstance(f, RepoFile)
            ]
        wanted = _wanted_files(repo_id, listing)
        hub_cache = store.tmp_dir / "hub"
        repo_cache = hub_cache / ("models--" + repo_id.replace("/", "--"))  # huggingface_hub's
        with _hub_errors(repo_id, endpoint):
            # one file at a time, in this thread: exactly the vetted files (snapshot_download
            # lists the repo again and fetches what that second listing says), and Ctrl-C
            # stops it (snapshot_download's worker threads kept the process alive)
            for name, item in sorted(wanted.items()):
                label = f"{repo_id}/{name}"
                with TransferWatch(repo_cache / "blobs", _listed_size(item), label), \
                        _bounded_rate_limit_waits(label):
                    fetched = hf_hub_download(
                        repo_id, name, revision=commit, cache_dir=hub_cache, endpoint=endpoint,
                        token=token, library_name="ecglm", library_version=__version__,
                        etag_timeout=TIMEOUT_S,
                    )
        snapshot = Path(fetched).parents[len(PurePosixPath(name).parts) - 1]  # its root
        # an interrupted transfer leaves huggingface_hub's staging copy, so a rerun resumes;
        # once the transfer is complete the copy is moved or, on failure, dropped
        staging = store.staging_dir(repo_id)
        try:
            _move_snapshot(Path(snapshot), hub_cache, staging / FILES)
            _check_files(repo_id, staging / FILES, wanted)
            info = {"kind": kind, "source": "hf", "repo_id": repo_id, "endpoint": endpoint,
                    "ref": ref, "root": ""}
            return store.install(staging, repo_id, commit, info), True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(repo_cache, ignore_errors=True)


class _RateLimitWaits(logging.Filter):
    """Stops huggingface_hub's back-off before it sleeps through a long `Retry-After`: it waits
    as long as a 429 asks (100,000 s were waited) and takes no bound, and the warning it logs
    just before sleeping is the one place to step in. Shorter waits go ahead, as logged."""

    SLEEP = re.compile(r"Rate limited\. Waiting ([0-9.]+)s before retry")

    def __init__(self, label: str, shown_level: int):
        super().__init__()
        self.label = label
        self.shown_level = shown_level

    def filter(self, record: logging.LogRecord) -> bool:
        wait = self.SLEEP.match(record.getMessage())
        if wait and float(wait[1]) > MAX_RATE_LIMIT_WAIT_S:
            raise DownloadError(f"{self.label}: the server is rate limiting downloads and asks "
                                f"to wait {_duration(float(wait[1]))}; try again later")
        return record.levelno >= self.shown_level


@contextmanager
def _bounded_rate_limit_waits(label: str) -> Iterator[None]:
    """`_RateLimitWaits` on huggingface_hub's HTTP logger, which logs its warning even where
    the user's verbosity hides it (the filter then keeps it hidden)."""
    from huggingface_hub.utils import _http

    logger = _http.logger
    shown_level, level = logger.getEffectiveLevel(), logger.level
    waits = _RateLimitWaits(label, shown_level)
    logger.setLevel(min(shown_level, logging.WARNING))
    logger.addFilter(waits)
    try:
        yield
    finally:
        logger.removeFilter(waits)
        logger.setLevel(level)


class _NoAnswer(Exception):
    """A Hub request that got no answer for TIMEOUT_S seconds. Not an httpx timeout, which
    huggingface_hub retries six times with waits between (a stalled HEAD took 397 s)."""


def _bounded_client():
    """huggingface_hub's HTTP client, with the timeout our own downloads have. Its default has
    none, and its calls pass `timeout=None` (repo info, the file listing), so a server that
    accepted the connection and never answered kept `download`, and the lock other downloads
    of that model wait on, waiting for good. The client is otherwise its default: environment
    proxies (HTTPS_PROXY, NO_PROXY) apply as before."""
    import httpx2
    from huggingface_hub.utils import _http

    def bound(request: httpx2.Request) -> None:  # a request hook runs before each send
        asked = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            part: asked.get(part) or TIMEOUT_S for part in ("connect", "read", "write", "pool")
        }

    class Bounded(httpx2.Client):
        def send(self, request: httpx2.Request, **kwargs) -> httpx2.Response:
            try:
                return super().send(request, **kwargs)
            except httpx2.TimeoutException as exc:
                raise _NoAnswer(str(request.url)) from exc

    # timeout=None here: the hook then bounds every part at TIMEOUT_S (httpx's own default
    # would cut a request made without a timeout at 5 s and call it "no answer in 30 s")
    return Bounded(event_hooks={"request": [_http.hf_request_event_hook, bound]},
                   follow_redirects=True, timeout=None)


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds / 3600:.1f} hours"


class TransferWatch:
    """Watches one huggingface_hub download from a thread, which it cannot bound itself: more
    bytes than the listing gave (a server streamed 3 GB for a 100 kB file), or too few in a
    `RateWindow` once the file is being written (a server that drips),
    interrupt the main thread, and the transfer ends with one line saying why."""

    POLL_S = 0.2

    def __init__(self, blobs: Path, limit: int, label: str):
        self.blobs, self.limit, self.label = blobs, limit, label
        self.reason: str | None = None
        self.active = True
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> TransferWatch:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        with self.lock:
            self.active = False
        try:
            self.thread.join()
            time.sleep(0)  # an interrupt already sent is raised here, not in the caller
        except KeyboardInterrupt:
            if self.reason is None:
                raise
        if self.reason is not None and (kind is None or issubclass(kind, KeyboardInterrupt)):
            for part in self.blobs.glob("*.incomplete"):
                part.unlink(missing_ok=True)
            raise DownloadError(self.reason) from None

    def _received(self) -> int | None:
        """Bytes in huggingface_hub's partial file; None before it exists (asking for the file,
        or a transfer that does not write one, as Xet storage)."""
        sizes = [p.stat().st_size for p in self.blobs.glob("*.incomplete") if p.is_file()]
        return sum(sizes) if sizes else None

    def _watch(self) -> None:
        window = RateWindow(self.label, 0)
        while True:
            time.sleep(self.POLL_S)
            received, reason = self._received(), None
            if received is None:  # the rate is judged on a transfer that is writing
                window = RateWindow(self.label, 0)
            elif received > self.limit + (1 << 20):
                reason = (f"{self.label}: the server sent more than the {self.limit} bytes "
                          "its listing gave; nothing was kept")
            else:
                try:
                    window.check(received)
                except DownloadError as exc:
                    reason = str(exc)
            with self.lock:
                if not self.active:
                    return
                if reason is not None:
                    self.reason = reason
                    _interrupt_main()
                    return


def _interrupt_main() -> None:
    """A real SIGINT to the main thread: it also ends a sleep or a blocking read there."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:
        _thread.interrupt_main()


def _listed_size(item: object) -> int:
    """A file's size in the Hub listing (its LFS object's, for weights)."""
    lfs = getattr(item, "lfs", None)
    return int(lfs.size if lfs is not None else getattr(item, "size", 0) or 0)


def _wanted_files(repo_id: str, listing: list) -> dict[str, object]:
    """The listed files we will fetch, after checking their names and total size."""
    from huggingface_hub.utils import filter_repo_objects

    for item in listing:
        safe_parts(item.path, what="file name from the Hub listing")
    wanted = {
        item.path: item
        for item in filter_repo_objects(
            listing, allow_patterns=ALLOW_PATTERNS, key=lambda f: f.path
        )
    }
    if not any(name.endswith(".safetensors") for name in wanted):
        raise DownloadError(
            f"{repo_id} has no safetensors weights at this revision; ecglm does not load "
            "pickled (.bin/.pt) weights. Pick a revision with safetensors via --revision"
        )
    total = sum(_listed_size(item) for item in wanted.values())
    if total > MAX_REPO_BYTES:
        raise DownloadError(f"{repo_id}: {total} bytes is more than the {MAX_REPO_BYTES} limit")
    return wanted


def _move_snapshot(snapshot: Path, hub_cache: Path, dest: Path) -> None:
    """Move the files of a huggingface_hub snapshot (links into its blob store) to `dest`."""
    hub_root = Path(os.path.realpath(hub_cache))
    moved: dict[Path, Path] = {}
    for path in sorted(snapshot.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        source = Path(os.path.realpath(path))
        if not source.is_relative_to(hub_root) or not source.is_file():
            raise DownloadError(f"refusing {path.name}: it points outside the download folder")
        target = dest.joinpath(*safe_parts(path.relative_to(snapshot).as_posix(), "Hub file"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if source in moved:  # two names for one blob: identical content
            shutil.copyfile(moved[source], target)
        else:
            os.replace(source, target)
            moved[source] = target


def _git_blob_id(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_files(repo_id: str, files_dir: Path, wanted: dict[str, object]) -> None:
    """Every wanted file is there with the size and hash the listing promised, and no other."""
    present = {p.relative_to(files_dir).as_posix() for p in files_dir.rglob("*") if p.is_file()}
    if present != set(wanted):
        missing = sorted(set(wanted) - present)
        extra = sorted(present - set(wanted))
        raise DownloadError(f"{repo_id}: download incomplete (missing {missing}, extra {extra})")
    for name, item in wanted.items():
        path = files_dir / name
        lfs = getattr(item, "lfs", None)
        if path.stat().st_size != _listed_size(item):
            raise DownloadError(f"{repo_id}/{name}: size does not match the Hub listing")
        if lfs is not None:
            ok = sha256_file(path) == lfs.sha256
        else:
            ok = _git_blob_id(path) == item.blob_id
        if not ok:
            raise DownloadError(f"{repo_id}/{name}: content does not match the Hub's hash")
