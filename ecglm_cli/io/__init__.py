"""Readers: every supported file becomes one `ECGRecord`, and every failure one `RecordError`."""

from __future__ import annotations

import warnings
from pathlib import Path

from ecglm_cli.errors import ECGLMError, RecordError
from ecglm_cli.io.assemble import short_reason
from ecglm_cli.io.record import ECGRecord

__all__ = ["ECGRecord", "read_record", "SUPPORTED_SUFFIXES"]

WFDB_SUFFIXES = (".hea", ".dat", ".mat")
EDF_SUFFIXES = (".edf", ".bdf")
ARRAY_SUFFIXES = (".npy", ".npz", ".csv")
SUPPORTED_SUFFIXES = WFDB_SUFFIXES + EDF_SUFFIXES + ARRAY_SUFFIXES


def read_record(
    path: str | Path, fs: float | None = None, leads: list[str] | None = None
) -> ECGRecord:
    """Read any supported ECG file.

    `fs` and `leads` describe bare arrays (.npy/.npz/.csv) and override their JSON sidecar; the
    other formats carry their own. Raises `RecordError` naming the file for anything wrong,
    including failures inside the libraries underneath, so no reader can leak a traceback.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library warnings would break one-line errors
            return _dispatch(path, fs, leads)
    except ECGLMError:
        raise
    except MemoryError:
        raise RecordError(path, "too large to read into memory") from None
    except RecursionError:
        raise RecordError(path, "malformed file (nesting too deep)") from None
    except Exception as exc:
        raise RecordError(
            path, f"cannot read ({type(exc).__name__}: {short_reason(exc)})"
        ) from exc


def _dispatch(path: Path, fs: float | None, leads: list[str] | None) -> ECGRecord:
    suffix = path.suffix.lower()
    if path.is_dir():
        raise RecordError(path, "is a directory, expected a record file")
    if suffix in WFDB_SUFFIXES or (suffix not in SUPPORTED_SUFFIXES and _has_header(path)):
        from ecglm_cli.io.wfdb_reader import read_wfdb

        return read_wfdb(path)
    if not path.exists():
        raise RecordError(path, "a link that leads nowhere (dangling, or a loop)"
                          if path.is_symlink() else "no such file")
    if not path.is_file():
        raise RecordError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise RecordError(path, "empty file (0 bytes)")
    if suffix in EDF_SUFFIXES:
        from ecglm_cli.io.edf_reader import read_edf

        return read_edf(path)
    if suffix in ARRAY_SUFFIXES:
        from ecglm_cli.io.array_reader import read_array

        return read_array(path, fs, leads)
    supported = " ".join(SUPPORTED_SUFFIXES)
    raise RecordError(
        path, f"unsupported file type {suffix or '(none)'!r} (supported: {supported})"
    )


def _has_header(path: Path) -> bool:
    """A bare record name such as `100` (or `00001_hr`) with `100.hea` beside it."""
    return Path(f"{path}.hea").is_file()
