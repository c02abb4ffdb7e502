"""A one-line progress display on stderr: count, rate and ETA, only for a person at a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

REFRESH_S = 0.2


class Progress:
    """`update(n)` as work completes; `close()` ends the line. Silent when disabled, or when the
    stream is not a terminal (logs and pipes get the final summary only)."""

    def __init__(self, total: int | None, label: str = "", enabled: bool = True,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self._shown = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._shown >= REFRESH_S or self.done == self.total):
            self._shown = now
            self.stream.write("\r" + self.text(now) + "\033[K")
            self.stream.flush()

    def text(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        eta = ""
        if self.total is not None and rate > 0:
            eta = f"  ETA {_clock((self.total - self.done) / rate)}"
        return f"{self.label}{count} records  {rate:.1f}/s  elapsed {_clock(elapsed)}{eta}"

    def close(self) -> None:
        if self.enabled and self.done:
            self.stream.write("\r" + self.text(time.monotonic()) + "\033[K\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
