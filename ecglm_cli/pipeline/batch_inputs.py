"""What `batch` scores: records found under a directory, listed in a file, or read from stdin,
each with a stable id; and the deterministic shard each id belongs to.

- Directory: walked recursively in sorted order. One record per WFDB header (`.hea`), except the
  segment and layout headers that a multi-segment record's master header lists (a master header
  is always a record, even one that lists itself); every `.edf` and `.bdf`; every `.npy`/`.npz`
  with a JSON sidecar (or all of them when `--fs` is given). CSV files are not collected (a
  dataset's tables are CSV too); list them explicitly instead. The id is the path relative to the
  directory without the record suffix, e.g. `00000/00001_lr` (with it, when two records differ
  only in their suffix).
- List file or `-` (stdin): one path per line, blank lines and `#` comments ignored, relative paths
  taken from the current directory. The id is the path as listed without the record suffix.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

from ecglm_cli.errors import ECGLMError
from ecglm_cli.output import line_safe
from ecglm_cli.pipeline.classify import record_id

EDF_SUFFIXES = (".edf", ".bdf")
ARRAY_SUFFIXES = (".npy", ".npz")
WFDB_SUFFIXES = (".hea", ".dat", ".mat")
NOT_A_LIST = (*WFDB_SUFFIXES, ".edf", ".bdf", ".npy", ".npz")
MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class Job:
    id: str
    path: str


def discover(source: str, pattern: str | None = None, bare_arrays: bool = False,
             stdin: TextIO | None = None) -> Iterator[Job]:
    """The records of `source` (a directory, a list file or `-`), in a stable order.

    Two records whose names differ only in the record suffix (`rec.hea` and `rec.edf`) would
    share an id, and `--resume` would then skip the second: both keep their suffix instead."""
    records: dict[str, tuple[str, str]] = {}
    for name, path in _named(source, pattern, bare_arrays, stdin):
        records.setdefault(_record_key(path), (name, path))  # listed twice, however spelt: once
    named = list(records.values())
    ids = [line_safe(record_id(name)) for name, _ in named]
    counts = Counter(ids)
    for (name, path), rid in zip(named, ids, strict=True):
        yield Job(rid if counts[rid] == 1 else line_safe(name), path)


def _record_key(path: str) -> str:
    """What a record is, whatever the spelling: `rec.hea`, `rec`, `rec.dat`, `./rec.hea` and
    its absolute path are one WFDB record (a list of four spellings scored it four times). Only
    the folder is resolved: a header linked from two folders names each folder's own signal
    files, so the two are two records."""
    folder, name = os.path.split(path)
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in WFDB_SUFFIXES or not suffix:
        name = stem
    return os.path.join(os.path.realpath(folder or "."), name)


def select_jobs(source: str, pattern: str | None, bare_arrays: bool, shard: tuple[int, int],
                done: set[str]) -> tuple[list[Job], int]:
    """The records of shard `(index, count)` not already in the output (`done`), and how many
    were skipped as done. Finding no record at all is an error (a mistyped INPUT or --glob),
    raised before the output is touched."""
    index, count = shard
    jobs, skipped, found = [], 0, 0
    for job in discover(source, pattern, bare_arrays=bare_arrays):
        found += 1
        if count > 1 and shard_of(job.id, count) != index:
            continue
        if job.id in done:
            skipped += 1
            continue
        jobs.append(job)
    if not found:
        raise ECGLMError(f"{'stdin' if source == '-' else source}: no records found"
                         + (f" matching --glob {pattern!r}" if pattern else ""))
    return jobs, skipped


def _named(source: str, pattern: str | None, bare_arrays: bool,
           stdin: TextIO | None) -> Iterator[tuple[str, str]]:
    """(name, path) of each record: the name is its path below the directory, or as listed."""
    if source == "-":  # undecodable bytes kept as they are, so that the file still opens
        yield from _listed(stdin or io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8",
                                                     errors="surrogateescape"), pattern)
        return
    path = Path(source)
    if path.is_dir():
        for found in _walk(path, bare_arrays):
            rel = found.relative_to(path).as_posix()
            if pattern is None or PurePosixPath(rel).match(pattern):
                yield rel, str(found)
        return
    if not path.exists():
        raise ECGLMError(f"{source}: no such directory or list file")
    if path.suffix.lower() in NOT_A_LIST:
        raise ECGLMError(f"{source}: is a record; give a directory or a list of record paths "
                         "(or use `ecglm classify`)")
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
            yield from _listed(fh, pattern)
    except OSError as exc:
        raise ECGLMError(f"{source}: cannot read the list ({exc.strerror or exc})") from None


def _listed(lines: TextIO, pattern: str | None) -> Iterator[tuple[str, str]]:
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if pattern is None or PurePosixPath(text).match(pattern):
            yield text, text


def _walk(root: Path, bare_arrays: bool) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(folder)
        names = set(files)
        stems_with_data = {Path(f).stem for f in files if not f.lower().endswith(".hea")}
        segments: set[str] = set()
        masters: set[str] = set()
        for name in files:
            # a multi-segment master header has no signal file of its own: only such headers
            # (few) are opened, not the one beside every rec.dat
            if name.lower().endswith(".hea") and Path(name).stem not in stems_with_data:
                listed = segment_headers(here / name)
                if listed:
                    masters.add(name)
                    segments |= listed
        for name in sorted(files):
            lower = name.lower()
            if lower.endswith(".hea"):
                # WFDB segments are single-segment records, so a master is a record even when
                # a master (itself included) lists it: the reader reports the loop as an error
                if name in masters or name not in segments:
                    yield here / name
            elif lower.endswith(EDF_SUFFIXES):
                yield here / name
            elif lower.endswith(ARRAY_SUFFIXES):
                if bare_arrays or f"{Path(name).stem}.json" in names:
                    yield here / name


def segment_headers(header: Path) -> set[str]:
    """File names of the segment (and layout) headers a multi-segment master header lists;
    empty for any other header, including unreadable ones and ones that are not regular files
    (they stay records, so the reader reports them as error rows)."""
    text = _regular_file_text(header)
    if text is None:
        return set()
    lines = [line.split("#", 1)[0].split() for line in text.splitlines()]
    lines = [tokens for tokens in lines if tokens]
    if not lines or "/" not in lines[0][0]:
        return set()
    try:
        n_segments = int(lines[0][0].split("/", 1)[1])
    except ValueError:
        return set()
    return {f"{tokens[0]}.hea" for tokens in lines[1:1 + n_segments] if tokens[0] != "~"}


def _regular_file_text(path: Path) -> str | None:
    """The first MAX_HEADER_BYTES of a regular file; None for anything else or on a read error.
    Opened non-blocking and checked after opening: a FIFO would block the open (and the whole
    walk) until a writer came, a device would never end."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return fh.read(MAX_HEADER_BYTES).decode("latin-1")
    except OSError:
        return None


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N) with 0 <= I < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"expected I/N such as 0/4, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {text!r}: need 0 <= I < N")
    return index, count


def shard_of(rid: str, count: int) -> int:
    """The shard of a record id: a stable hash (the same on every machine and Python run)."""
    digest = hashlib.blake2b(rid.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count
