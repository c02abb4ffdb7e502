"""The example record shipped with the package (synthetic; see scripts/make_example_record.py)."""

from __future__ import annotations

from pathlib import Path

EXAMPLE_RECORD = "example_12lead"


def example_record_path() -> Path:
    """Path of the example record's header: a synthetic 12-lead, 10 s, 500 Hz WFDB record."""
    return Path(__file__).resolve().parent / f"{EXAMPLE_RECORD}.hea"
