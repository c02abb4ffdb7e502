"""Readers: every supported file becomes one `ECGRecord`."""

from __future__ import annotations

from pathlib import Path

from ecglm_cli.errors import RecordError
from ecglm_cli.io.record import ECGRecord

__all__ = ["ECGRecord", "read_record"]


def read_record(path: str | Path, fs: float | None = None, leads: list[str] | None = None) -> ECGRecord:
    """Read any supported ECG file. `fs` and `leads` describe bare arrays without a sidecar."""
    path = Path(path)
    if path.is_dir():
        raise RecordError(path, "is a directory, expected a record file")
    suffix = path.suffix.lower()
    if suffix in (".hea", ".dat", ".mat") or (suffix == "" and path.with_suffix(".hea").exists()):
        from ecglm_cli.io.wfdb_reader import read_wfdb

        if not path.with_suffix(".hea").exists():
            raise RecordError(path, "no such record (missing .hea header)")
        return read_wfdb(path)
    if not path.exists():
        raise RecordError(path, "no such file")
    raise RecordError(path, f"unsupported file type {suffix or '(none)'!r}")
