"""PTB-XL in its published layout, with the label spaces of Strodthoff et al. (2021).

The label spaces come from `scp_statements.csv` alone: `all` is every statement listed there,
`diagnostic`/`form`/`rhythm` are the statements flagged in those columns, and `subdiagnostic` /
`superdiagnostic` are the `diagnostic_subclass` / `diagnostic_class` of diagnostic statements.
As in the benchmark's code, every code listed in a record's `scp_codes` counts as present,
whatever its likelihood (0 included).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.safe_paths import UnsafePathError, relative_parts

LABEL_SPACES: tuple[str, ...] = (
    "all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm",
)
DEFAULT_TRAIN_FOLDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
DEFAULT_VAL_FOLDS: tuple[int, ...] = (9,)
DEFAULT_TEST_FOLDS: tuple[int, ...] = (10,)


class DatasetError(RecordError):
    """The PTB-XL folder itself is unusable (missing or malformed tables)."""


@dataclass
class LabelSpace:
    """One label space: its name, its ordered labels and a description of each."""

    name: str
    labels: list[str]
    descriptions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"labels": self.labels, "descriptions": self.descriptions}


@dataclass
class PTBXLEntry:
    ecg_id: int
    fold: int
    codes: dict[str, float]
    filename_lr: str
    filename_hr: str


def _flag(value: str | None) -> bool:
    try:
        return float(value or 0) == 1.0
    except ValueError:
        return False


# Names of PTB-XL's diagnostic classes and subclasses that are not statements themselves
# (Wagner et al., Scientific Data 2020, Table 2), so that results read "myocardial infarction"
# rather than a list of codes.
CLASS_NAMES: dict[str, str] = {
    "MI": "myocardial infarction",
    "STTC": "ST/T change",
    "CD": "conduction disturbance",
    "HYP": "hypertrophy",
    "_AVB": "AV block",
    "LAFB/LPFB": "left anterior or left posterior fascicular block",
    "ISCA": "ischemic in anterior or lateral leads",
    "ISCI": "ischemic in inferior leads",
}


def load_label_spaces(scp_statements: Path) -> dict[str, LabelSpace]:
    """Build the six label spaces from `scp_statements.csv`, labels sorted as in the benchmark.

    A sub/superdiagnostic class that is itself a statement (NORM, LVH) takes that statement's
    description, a known class its PTB-XL name (`CLASS_NAMES`); any other class is described
    by the statements it groups.
    """
    rows = _statement_rows(scp_statements)
    key = next(iter(rows[0]))  # the unnamed first column holds the statement code
    described = {r[key]: (r.get("description") or r[key]).strip() for r in rows}
    spaces: dict[str, list[str]] = {name: [] for name in LABEL_SPACES}
    members: dict[str, list[str]] = {}
    for r in rows:
        code = r[key]
        spaces["all"].append(code)
        for column in ("diagnostic", "form", "rhythm"):
            if _flag(r.get(column)):
                spaces[column].append(code)
        if _flag(r.get("diagnostic")):
            for column, space in (("diagnostic_subclass", "subdiagnostic"),
                                  ("diagnostic_class", "superdiagnostic")):
                group = (r.get(column) or "").strip()
                if group and group not in spaces[space]:
                    spaces[space].append(group)
                if group and code not in members.setdefault(group, []):
                    members[group].append(code)
    result = {}
    for name, labels in spaces.items():
        desc = {
            lab: described.get(lab) or CLASS_NAMES.get(lab)
            or "any of " + ", ".join(members.get(lab, []))
            for lab in labels
        }
        result[name] = LabelSpace(name, sorted(labels), {lab: desc[lab] for lab in sorted(labels)})
    return result


def statement_groups(scp_statements: Path) -> dict[str, dict[str, str]]:
    """Statement -> its subdiagnostic and superdiagnostic class (diagnostic statements only)."""
    rows = _statement_rows(scp_statements)
    key = next(iter(rows[0]))
    return {
        r[key]: {"subdiagnostic": (r.get("diagnostic_subclass") or "").strip(),
                 "superdiagnostic": (r.get("diagnostic_class") or "").strip()}
        for r in rows if _flag(r.get("diagnostic"))
    }


def _statement_rows(scp_statements: Path) -> list[dict[str, str]]:
    """The rows of `scp_statements.csv`; a DatasetError naming it when it cannot be one."""
    try:
        with open(scp_statements, newline="", encoding="utf-8-sig") as fh:  # Excel: a BOM
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DatasetError(scp_statements, f"cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(scp_statements, f"not a PTB-XL scp_statements.csv ({exc})") from None
    if not rows or "diagnostic" not in rows[0]:
        raise DatasetError(scp_statements, "not a PTB-XL scp_statements.csv")
    return rows


def encode_labels(
    codes: Iterable[str], spaces: dict[str, LabelSpace], groups: dict[str, dict[str, str]]
) -> dict[str, np.ndarray]:
    """Multi-hot vectors per label space for one record's listed statements."""
    codes = set(codes)
    present = {name: set() for name in spaces}
    for code in codes:
        for name in ("all", "diagnostic", "form", "rhythm"):
            present[name].add(code)
        if code in groups:
            present["subdiagnostic"].add(groups[code]["subdiagnostic"])
            present["superdiagnostic"].add(groups[code]["superdiagnostic"])
    out = {}
    for name, space in spaces.items():
        out[name] = np.array([lab in present[name] for lab in space.labels], dtype=np.float32)
    return out


def read_database(path: Path) -> list[PTBXLEntry]:
    """The classification view of `ptbxl_database.csv` (parsed once, in `ptbxl_table`).

    Record file names in the table must stay inside the PTB-XL folder."""
    from ecglm_cli.data.ptbxl_table import read_label_rows

    try:
        rows = read_label_rows(path)
    except RecordError as exc:
        raise DatasetError(path, exc.problem) from None
    need = {"filename_lr", "filename_hr"}
    first = next(iter(rows.values()), None)
    if first is None or not need <= set(first):
        raise DatasetError(path, f"not a PTB-XL database table (needs {', '.join(sorted(need))})")
    for ecg_id, row in rows.items():
        for column in sorted(need):
            try:
                relative_parts(row[column])
            except UnsafePathError as exc:
                raise DatasetError(path, f"ecg_id {ecg_id}: {column} {row[column]!r} "
                                         f"refused: {exc}") from None
    return [
        PTBXLEntry(ecg_id=ecg_id, fold=row["strat_fold"], codes=row["scp_codes"],
                   filename_lr=row["filename_lr"], filename_hr=row["filename_hr"])
        for ecg_id, row in rows.items()
    ]


class PTBXL:
    """A PTB-XL folder: label spaces, entries per fold, and record reading.

    `skipped` maps ecg_id to the reason a listed record could not be used (a missing or
    unreadable file); such records are left out rather than failing the whole run. Decoded
    signals are kept in memory by the caller at model rate (`pipeline.evaluate.load_split`).
    """

    def __init__(self, root: str | Path, resolution: str = "lr"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(self.root, "no such PTB-XL folder")
        if resolution not in ("lr", "hr"):
            raise ValueError("resolution must be 'lr' (records100) or 'hr' (records500)")
        self.resolution = resolution
        self.label_spaces = load_label_spaces(self.root / "scp_statements.csv")
        self.groups = statement_groups(self.root / "scp_statements.csv")
        self.entries = read_database(self.root / "ptbxl_database.csv")
        self.skipped: dict[int, str] = {}

    def unknown_codes(self, entries: Sequence[PTBXLEntry]) -> dict[str, int]:
        """SCP codes that `entries` list but `scp_statements.csv` does not define, with how many
        records list each: such a code (a typo in an edited table) trains as absent."""
        known = set(self.label_spaces["all"].labels) if "all" in self.label_spaces else set()
        counts: dict[str, int] = {}
        for entry in entries:
            for code in entry.codes:
                if code not in known:
                    counts[code] = counts.get(code, 0) + 1
        return counts

    def record_path(self, entry: PTBXLEntry) -> Path:
        name = entry.filename_lr if self.resolution == "lr" else entry.filename_hr
        return self.root / (name + ".hea")

    def select(self, folds: Sequence[int], limit: int | None = None) -> list[PTBXLEntry]:
        """Entries in `folds` whose header file exists (others go to `skipped`), in ecg_id order.
        Folds of which the table has none are an error naming the folds it has: `--fold 11`
        was reported as "no readable records". (A subset may lack some training folds.)"""
        present = {entry.fold for entry in self.entries}
        absent = sorted(set(folds) - present)
        if absent and len(absent) == len(set(folds)):
            raise DatasetError(self.root / "ptbxl_database.csv",
                               f"no fold {', '.join(map(str, absent))} in the table (it has "
                               f"folds {', '.join(map(str, sorted(present)))})")
        chosen = []
        for entry in self.entries:
            if entry.fold not in folds:
                continue
            if not self.record_path(entry).exists():
                self.skipped[entry.ecg_id] = f"missing {self.record_path(entry).name}"
                continue
            chosen.append(entry)
            if limit is not None and len(chosen) >= limit:
                break
        return chosen

    def labels(self, entry: PTBXLEntry) -> dict[str, np.ndarray]:
        return encode_labels(entry.codes, self.label_spaces, self.groups)

    def record(self, entry: PTBXLEntry):
        """The decoded `ECGRecord`; raises RecordError for an unreadable file. A record present
        only at the other resolution is read there (ECG-QA counts an ECG present at either:
        a folder of records500/ alone scored no question)."""
        from ecglm_cli.io import read_record

        path = self.record_path(entry)
        other = self.root / ((entry.filename_hr if self.resolution == "lr"
                              else entry.filename_lr) + ".hea")
        return read_record(other if not path.exists() and other.exists() else path)
