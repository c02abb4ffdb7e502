"""Work that must not be cut in two by Ctrl-C or SIGTERM: the signals wait until it is done.

An epoch ends with several writes: the bundle (weights, config, thresholds, ...), a metrics line
and the checkpoint that `--resume` reads. An interrupt between two of them left a bundle whose
weights and thresholds came from different epochs, or a checkpoint one epoch behind its weights,
so that `--resume` trained that epoch a second time. `batch` starts and kills its reader
processes: an interrupt in the middle left some alive, and the interpreter then waited for them
at exit for ever. While such work runs, SIGINT and SIGTERM are held, and acted on as soon as it
is done. (A SIGKILL can still cut it apart.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration; the first one held is raised on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it receives signals
        return
    held: list[int] = []
    previous = {number: signal.signal(number, lambda number, frame: held.append(number))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if held:
            signal.raise_signal(held[0])
