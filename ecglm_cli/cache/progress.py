"""A download progress bar on stderr: bytes so far, rate and time left.

On a terminal it redraws one line; when stderr is a file or pipe it writes a line at the start
and one at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if round(abs(n), 0 if unit == "B" else 1) < 1000 or unit == "GB":  # no "1000.0 kB"
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """Call `update(n)` per chunk and `close()` at the end; `done` bytes may start above zero
    when a download resumes."""

    def __init__(self, label: str, total: int | None, done: int = 0, stream: TextIO | None = None):
        self.label = label
        self.total = total
        self.done = done
        self.start_done = done
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        if not self.live:
            resumed = f", resuming at {human_bytes(done)}" if done else ""
            self.stream.write(f"downloading {label} ({human_bytes(total)}{resumed})\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (self.done - self.start_done) / elapsed
        text = f"{self.label}  {human_bytes(self.done)}"
        if self.total:
            text += f"/{human_bytes(self.total)} {100 * self.done / self.total:5.1f}%"
        text += f"  {human_bytes(rate)}/s"
        if self.total and rate > 0:
            text += f"  ETA {_clock(max(self.total - self.done, 0) / rate)}"
        return text

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.live and now - self.last_draw > 0.2:
            self.last_draw = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        prefix = "\r" if self.live else ""
        self.stream.write(prefix + self.line() + ("\x1b[K\n" if self.live else "\n"))
        self.stream.flush()
