"""Read every column of PTB-XL's ptbxl_database.csv, label notes included, as plain dicts.

The encoder's `ecglm_cli.data.ptbxl` reads only what classification needs (codes, fold, file
names); the language model's instruction synthesis also needs the free-text label columns
(noise notes, extra beats, heart axis, infarction stage), which are kept as strings here and
interpreted in `ecglm_cli.knowledge.labels`.
"""

from __future__ import annotations

import ast
import csv
import math
from pathlib import Path

from ecglm_cli.errors import RecordError

LABEL_COLUMNS: tuple[str, ...] = (
    "heart_axis", "infarction_stadium1", "infarction_stadium2", "baseline_drift",
    "static_noise", "burst_noise", "electrodes_problems", "extra_beats", "pacemaker",
)


REQUIRED_COLUMNS = ("ecg_id", "strat_fold", "scp_codes")


def parse_scp_codes(text: str) -> dict[str, float]:
    """``"{'NORM': 100.0, 'SR': 0.0}"`` -> ``{"NORM": 100.0, "SR": 0.0}`` (never eval)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"scp_codes is not a dict literal: {text[:60]!r}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"scp_codes is not a dict literal: {text[:60]!r}")
    try:
        return {str(code): float(lik) for code, lik in value.items()}
    except (TypeError, ValueError):
        raise ValueError(f"scp_codes likelihoods are not numbers: {text[:60]!r}") from None


def _whole(text: str | None, column: str, where: str) -> int:
    """A whole number, also as pandas writes one ("3.0"); "3.7" was read as fold 3, and "x"
    was refused without saying which row held it."""
    try:
        value = float(text or "")
    except ValueError:
        value = math.nan
    if not value.is_integer():
        raise ValueError(f"{where}: {column} {text!r} is not a whole number")
    return int(value)


def parse_row(raw: dict[str, str]) -> dict:
    """One csv row -> dict with typed ``ecg_id``, ``strat_fold``, ``scp_codes``; label text kept.

    A row without statements or fold is refused: an empty ``scp_codes`` cell (or a line cut
    short) was trained as a record with no finding at all, in fold 0. "nan" in a label column
    (a table saved through pandas) is an empty cell: read as a note, it gave every record all
    four kinds of noise, a pacemaker and an unknown infarction stage."""
    row: dict = {key: (value or "") for key, value in raw.items() if key}
    row["ecg_id"] = _whole(raw["ecg_id"], "ecg_id", "a row")
    for column in ("strat_fold", "scp_codes"):
        if not (raw.get(column) or "").strip():
            raise ValueError(f"ecg_id {row['ecg_id']} has no {column}")
    row["strat_fold"] = _whole(raw["strat_fold"], "strat_fold", f"ecg_id {row['ecg_id']}")
    row["scp_codes"] = parse_scp_codes(raw["scp_codes"])
    if not row["scp_codes"]:
        raise ValueError(f"ecg_id {row['ecg_id']} has no SCP statement")
    for column in LABEL_COLUMNS:
        if row.get(column, "").strip().lower() == "nan":
            row[column] = ""
        row.setdefault(column, "")
    return row


def read_label_rows(path: str | Path) -> dict[int, dict]:
    """Read ptbxl_database.csv (file, or the PTB-XL folder holding it) keyed by ecg_id."""
    path = Path(path)
    if path.is_dir():
        path = path / "ptbxl_database.csv"
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # Excel adds a BOM
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:  # without scp_codes every record trained as having no statement
                raise RecordError(path, "not a PTB-XL database table (no "
                                        f"{', '.join(missing)} column)")
            rows = [parse_row(raw) for raw in reader]
    except OSError as exc:
        raise RecordError(path, f"cannot read PTB-XL table: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, OverflowError, csv.Error) as exc:
        raise RecordError(path, f"malformed PTB-XL table: {exc}") from exc
    by_id: dict[int, dict] = {}
    for row in rows:
        if row["ecg_id"] in by_id:  # the later row silently replaced the earlier record
            raise RecordError(path, f"malformed PTB-XL table: ecg_id {row['ecg_id']} is "
                                    "listed twice")
        by_id[row["ecg_id"]] = row
    return by_id

