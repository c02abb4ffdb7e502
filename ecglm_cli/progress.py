"""The one progress display on stderr: amount done, rate and ETA.

On a terminal one line is redrawn. Elsewhere (logs, pipes) a count display stays silent, while a
download announces itself and writes one final line, so logs still say what was fetched.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

REFRESH_S = 0.2


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if round(abs(n), 0 if unit == "B" else 1) < 1000 or unit == "GB":  # no "1000.0 kB"
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """`update(n)` as work completes; `close()` ends the line.

    `unit="records"` counts items and is silent off a terminal (the caller prints a summary);
    `unit="bytes"` shows sizes, may start at `done` > 0 (a resumed download), and off a terminal
    writes a start line and a final line.
    """

    def __init__(self, total: int | None, label: str = "", *, unit: str = "records",
                 done: int = 0, enabled: bool = True, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.live = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.logged = enabled and not self.live and unit == "bytes"
        self.total, self.label, self.unit = total, label, unit
        self.done = self.start_done = done
        self.started = time.monotonic()
        self.last_draw = 0.0
        if self.logged:
            resumed = f", resuming at {human_bytes(done)}" if done else ""
            self.stream.write(f"downloading {label} ({human_bytes(total)}{resumed})\n")
            self.stream.flush()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.live and (now - self.last_draw >= REFRESH_S or self.done == self.total):
            self.last_draw = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (self.done - self.start_done) / elapsed
        left = max((self.total or 0) - self.done, 0)
        eta = f"  ETA {clock(left / rate)}" if self.total and rate > 0 else ""
        if self.unit == "bytes":
            text = f"{self.label}  {human_bytes(self.done)}"
            if self.total:
                text += f"/{human_bytes(self.total)} {100 * self.done / self.total:5.1f}%"
            return f"{text}  {human_bytes(rate)}/s{eta}"
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        return f"{self.label}{count} records  {rate:.1f}/s  elapsed {clock(elapsed)}{eta}"

    def close(self) -> None:
        if self.live and self.done > self.start_done:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
        elif self.logged:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
