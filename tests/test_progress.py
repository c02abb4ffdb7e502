"""The one progress display: redrawn on a terminal; off a terminal silent for counts, logged for
downloads."""

from __future__ import annotations

import io

from ecglm_cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_record_counts_are_drawn_on_a_terminal_only():
    screen, log = Terminal(), io.StringIO()
    for stream in (screen, log):
        progress = Progress(3, "ecglm batch: ", stream=stream)
        for _ in range(3):
            progress.update()
        progress.close()
    assert "3/3 records" in screen.getvalue() and screen.getvalue().endswith("\n")
    assert log.getvalue() == ""


def test_downloads_are_logged_off_a_terminal_and_quiet_when_disabled():
    log = io.StringIO()
    bar = Progress(2_000, "b", unit="bytes", stream=log)
    bar.update(2_000)
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0] == "downloading b (2.0 kB)" and "100.0%" in lines[1]
    quiet = io.StringIO()
    Progress(2_000, "b", unit="bytes", enabled=False, stream=quiet).close()
    assert quiet.getvalue() == ""
