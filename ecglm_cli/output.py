"""Result writers, one per output format, shared by every command that prints results.

The rule for every command: `--format` wins; otherwise a table on a terminal and JSON lines
when stdout is a pipe or file, so shell pipelines get machine-readable output by default.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable
from typing import Any, TextIO

FORMATS = ("table", "json", "csv", "jsonl")


def resolve_format(requested: str | None, stream: TextIO | None = None) -> str:
    if requested:
        return requested
    stream = stream or sys.stdout
    return "table" if getattr(stream, "isatty", lambda: False)() else "jsonl"


def json_safe(value: Any) -> Any:
    """Make a value JSON-safe: NaN and inf become null, numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def line_safe(text: str) -> str:
    """A file name as a row can hold it and give it back unchanged: bytes that are not UTF-8
    (lone surrogates from the file system) as `\\xNN`, line breaks as `\\n` and `\\r`."""
    if text.isprintable() and text.isascii():
        return text
    safe = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return safe.replace("\n", "\\n").replace("\r", "\\r")


def error_text(exc: BaseException) -> str:
    """An error's message on one line, a file name in it spelt as the output spells it
    (`caf\\xe9`: stderr wrote the lone surrogate as `\\udce9`)."""
    return line_safe(" ".join(str(exc).split()))


# the fields that hold a file name, or (`error`) a text that starts with one
NAME_FIELDS = ("id", "path", "file", "record", "error")


def safe_names(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its file names `line_safe`, the same in every command and format: `classify`
    and `info` wrote a Latin-1 name's lone surrogate raw, which ended the run with
    UnicodeEncodeError under a UTF-8 locale (or wrote invalid UTF-8), and a newline in a name
    split a CSV row in two."""
    return {**row, **{key: line_safe(row[key]) for key in NAME_FIELDS
                      if isinstance(row.get(key), str)}}


def to_json_line(row: dict[str, Any]) -> str:
    try:  # fast path: rows of plain finite Python values (every scored record) need no walk
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(json_safe(row), ensure_ascii=False, separators=(",", ":"))


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys and lists to space-joined text, for CSV and tables."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = " ".join(str(v) for v in value)
        else:
            flat[name] = json_safe(value)
    return flat


class Writer:
    """Writes result rows as they arrive; `close()` finishes formats that need all rows."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, row: dict[str, Any]) -> None:
        self._write(safe_names(row))

    def _write(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()


class JSONLinesWriter(Writer):
    """One compact JSON object per record per line (`json` and `jsonl` alike)."""

    def _write(self, row: dict[str, Any]) -> None:
        self.stream.write(to_json_line(row) + "\n")
        self.stream.flush()


class CSVWriter(Writer):
    """One row per record. With `columns` (a known schema) rows stream out under that header and
    a key outside it is an error, never a dropped cell. Without, rows differ (a record's own
    leads, a measurement's `reason`), so they are held until `close()` and written under the
    union of their columns: no field of a later row is lost to an earlier row's header."""

    def __init__(self, stream: TextIO, columns: list[str] | None = None):
        super().__init__(stream)
        self.columns = columns
        self.rows: list[dict[str, Any]] = []
        self._writer: csv.DictWriter | None = None

    def _write(self, row: dict[str, Any]) -> None:
        if self.columns is None:
            self.rows.append(flatten(row))
            return
        if self._writer is None:
            self._writer = self._start(self.columns)
        self._writer.writerow(flatten(row))
        self.stream.flush()

    def close(self) -> None:
        if self.rows:
            self._start(union_columns(self.rows)).writerows(self.rows)
        super().close()

    def _start(self, columns: list[str]) -> csv.DictWriter:
        writer = csv.DictWriter(self.stream, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        return writer


def union_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of `rows`, in first-seen order, except that a key first met in a later row is
    placed right after the key before it in that row, keeping related columns together
    (`qrs_axis.reason` beside `qrs_axis.unit`, a record's own leads beside the others')."""
    columns: list[str] = []
    seen: set[str] = set()
    for row in rows:
        previous: str | None = None
        for key in row:
            if key not in seen:
                columns.insert(0 if previous is None else columns.index(previous) + 1, key)
                seen.add(key)
            previous = key
    return columns


class TableWriter(Writer):
    """A readable table for a terminal; rows are buffered until `close()`."""

    def __init__(self, stream: TextIO, columns: list[str] | None = None):
        super().__init__(stream)
        self.columns = columns
        self.rows: list[dict[str, Any]] = []

    def _write(self, row: dict[str, Any]) -> None:
        self.rows.append(flatten(row))

    def close(self) -> None:
        from tabulate import tabulate

        if self.rows:
            columns = self.columns or union_columns(self.rows)
            table = [[_short(r.get(c)) for c in columns] for r in self.rows]
            self.stream.write(tabulate(table, headers=columns, tablefmt="simple") + "\n")
        super().close()


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return value


def get_writer(fmt: str, stream: TextIO | None = None, columns: list[str] | None = None) -> Writer:
    stream = stream or sys.stdout
    if fmt in ("json", "jsonl"):
        return JSONLinesWriter(stream)
    if fmt == "csv":
        return CSVWriter(stream, columns)
    if fmt == "table":
        return TableWriter(stream, columns)
    raise ValueError(f"unknown format {fmt!r}")


def write_all(rows: Iterable[dict[str, Any]], fmt: str, columns: list[str] | None = None) -> None:
    writer = get_writer(fmt, columns=columns)
    for row in rows:
        writer.write(row)
    writer.close()
