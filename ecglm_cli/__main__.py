"""`python -m ecglm_cli` and the `ecglm` command."""

import signal
import sys


def run() -> None:
    """Until `main` installs its own handlers, Ctrl-C or SIGTERM ends the run quietly: the
    command group and click take a tenth of a second to import, and a Ctrl-C then printed a
    traceback (SIGTERM died without a word)."""
    signal.signal(signal.SIGINT, lambda number, frame: sys.exit(130))
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(143))
    from ecglm_cli.cli.main import main

    main()


if __name__ == "__main__":
    run()
