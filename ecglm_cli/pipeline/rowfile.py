"""The `batch` output file, safe against being killed at any moment.

Every row is one complete line handed to the kernel by a single `os.write` on a file opened with
O_APPEND, so a SIGKILL leaves the file ending either after a whole row or, at worst, with one
partial line at its very end. `--resume` cuts such a torn tail off before reading the ids already
present and appending, so a killed-then-resumed run holds every record exactly once.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from ecglm_cli.errors import ECGLMError
from ecglm_cli.output import safe_names, to_json_line

STDOUT = "-"  # the `--out` that writes the rows to stdout
_TAIL_BLOCK = 1 << 16
_BREAKS = re.compile(r"\s*[\x00-\x1f\x7f]+\s*")


class RowFile:
    """Append rows as JSON lines or CSV; `done` holds the ids already in the file on resume.

    Without resume the file is replaced, but only once there is something to put in it: at the
    first row, or at `start()` when a run ends with none. A run stopped before then (a mistyped
    INPUT, no records found, Ctrl-C while listing) leaves an existing file exactly as it was, and
    `close()` removes a file it created and never wrote to.
    """

    def __init__(self, path: str | os.PathLike, fmt: str, columns: list[str], resume: bool,
                 model: str | None = None):
        self.path = Path(path)
        self.fmt = fmt
        self.columns = columns
        self.model = model  # rows written by another model may not be resumed
        self.done: set[str] = set()
        self._started = False
        if str(path) == STDOUT:  # appended to whatever stdout is: reopened as /dev/stdout, a
            # `>> all.jsonl` was truncated, and a socket could not be opened at all
            self._replace, self._created = False, False
            self.fd = os.dup(sys.stdout.fileno())
            return
        self._replace = not resume
        self._created = not os.path.lexists(self.path)
        try:
            if resume and not self._created:
                cut_torn_tail(self.path)
                self.done = self._read_ids()
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise ECGLMError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def start(self) -> None:
        """Replace the old content (unless resuming) and write the CSV header if the file is
        empty; done by the first `write`."""
        if self._started:
            return
        self._started = True
        if self._replace and stat.S_ISREG(os.fstat(self.fd).st_mode):  # not a pipe: /dev/stdout
            os.ftruncate(self.fd, 0)
        if self.fmt == "csv" and os.fstat(self.fd).st_size == 0:
            self._write_line(self._csv_line(dict(zip(self.columns, self.columns, strict=True))))

    def write(self, row: dict[str, Any]) -> None:
        self.start()
        row = safe_names(row)
        self._write_line(to_json_line(row) + "\n" if self.fmt == "jsonl" else self._csv_line(row))

    def close(self) -> None:
        os.close(self.fd)
        if self._created and not self._started:
            self.path.unlink(missing_ok=True)

    def _csv_line(self, row: dict[str, Any]) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        # the error text is made one line; id and path are `safe_names` already (collapsed, an id
        # with two spaces was read back as another, and scored again at every --resume)
        writer.writerow({k: v if k in ("id", "path") else one_line(v) for k, v in row.items()})
        return buffer.getvalue()

    def _write_line(self, line: str) -> None:
        # an undecodable file name reaches error texts as lone surrogates, which UTF-8 cannot
        # hold: one such name ended the whole batch with UnicodeEncodeError
        data = line.encode("utf-8", "backslashreplace")
        while data:  # a regular file takes it in one call; loop only on a short write
            written = os.write(self.fd, data)
            data = data[written:]

    def _read_ids(self) -> set[str]:
        ids: set[str] = set()
        with open(self.path, encoding="utf-8", errors="replace", newline="") as fh:
            first = fh.readline()
            if self.fmt == "csv":
                if first and next(csv.reader([first])) != self.columns:
                    raise ECGLMError(
                        f"{self.path}: its first line is not this run's CSV header (written by "
                        "another --model, an earlier ecglm, or as JSON lines?); resume with "
                        "the same --model and --format, or write to a new file"
                    )
                model_at = self.columns.index("model") if "model" in self.columns else None
                for row in csv.reader(fh):
                    if row:
                        ids.add(row[0])
                        if model_at is not None and len(row) > model_at and row[model_at]:
                            self._check_model({"model": row[model_at]})
            else:
                if first.split(",", 3)[:3] == self.columns[:3]:
                    raise ECGLMError(f"{self.path}: holds CSV rows, not JSON lines; resume it "
                                     "with --format csv, or write to a new file")
                for line in itertools.chain([first], fh):
                    try:
                        row = json.loads(line)
                        ids.add(str(row["id"]))
                    except (ValueError, KeyError, TypeError):
                        continue  # not one of our rows: leave it, score the record again
                    self._check_model(row)
        return ids

    def _check_model(self, row: dict[str, Any]) -> None:
        """A scored row records its model; one from another model would be mixed in."""
        written_by = row.get("model")
        if self.model is not None and written_by is not None and written_by != self.model:
            raise ECGLMError(f"{self.path}: holds rows scored by model {written_by!r}, not "
                             f"{self.model!r}; resume with --model {written_by}, or write to a "
                             "new file")


def cut_torn_tail(path: Path) -> None:
    """Truncate `path` after its last newline (drops a row a kill cut in half)."""
    with open(path, "rb+") as fh:
        end = fh.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            start = max(0, pos - _TAIL_BLOCK)
            fh.seek(start)
            block = fh.read(pos - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            pos = start
        else:
            keep = 0
        if keep < end:
            fh.truncate(keep)


def one_line(value: Any) -> Any:
    """Text on one line: line breaks and other control characters become one space each run;
    spaces are kept, so a path with two in a row is still quoted exactly."""
    return _BREAKS.sub(" ", value).strip() if isinstance(value, str) else value
