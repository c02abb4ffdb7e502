"""The `ecglm` command group and the one place where errors become exit codes.

Subcommands live in their own modules and are imported only when used, so `ecglm info` and
`--help` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import traceback

import click

from ecglm_cli import __version__
from ecglm_cli.errors import EXIT_ERROR, EXIT_USAGE, ECGLMError

# name -> module holding a click command called `command`
COMMANDS: dict[str, str] = {
    "info": "ecglm_cli.cli.info",
    "classify": "ecglm_cli.cli.classify",
    "batch": "ecglm_cli.cli.batch",
    "ask": "ecglm_cli.cli.ask",
    "train": "ecglm_cli.cli.train",
    "evaluate": "ecglm_cli.cli.evaluate",
    "download": "ecglm_cli.cli.download",
}
# name -> what it will do, for subcommands whose issue has not landed yet
NOT_YET: dict[str, str] = {}


def _not_yet_command(name: str, summary: str) -> click.Command:
    @click.command(
        name,
        help=f"{summary} (not yet available)",
        short_help=f"(not yet available) {summary}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=True,
    )
    def command() -> None:
        click.echo(f"ecglm: error: '{name}' is not yet available in ecglm {__version__}", err=True)
        sys.exit(EXIT_USAGE)

    return command


class StdoutClosed(Exception):
    """The reader of stdout went away (`| head`). Not an OSError, so that click's own EPIPE
    handling (exit 1, the code of a bad input) lets it reach `main`."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, a job scheduler's limit, `kill`) ends a run as Ctrl-C does: output
    held for the end is written and partial files are cleaned up, instead of a silent death."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM while a command ran, carried past click, which would otherwise print a
    blank line and turn it into "Aborted"."""

    def __init__(self, terminated: bool):
        super().__init__("terminated" if terminated else "interrupted")
        self.terminated = terminated


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise StdoutClosed() from None
        except KeyboardInterrupt as exc:
            raise Stopped(isinstance(exc, Terminated)) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *NOT_YET})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            return importlib.import_module(COMMANDS[name]).command
        if name in NOT_YET:
            return _not_yet_command(name, NOT_YET[name])
        return None


EPILOG = """\b
Examples:
  ecglm info rec.hea                    what was read from a record
  ecglm classify rec.hea                findings from the built-in model
  ecglm ask rec.hea "Is this AF?"       one question about one ECG
  ecglm batch ecgs/ --out scores.jsonl  score a folder, resumable

Exit codes: 0 ok, 1 bad input or model, 2 usage, 3 some batch records failed,
4 offline and the model is not cached, 130 interrupted (Ctrl-C), 141 stdout closed
(| head), 143 terminated (SIGTERM) (docs/exit-codes.md).
"""


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ecglm")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def cli(debug: bool) -> None:
    """Read electrocardiograms and answer questions about them."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


REDELIVER_S = 0.05


def install_interrupt_handlers() -> None:
    """SIGTERM raises `Terminated`. An interrupt that lands in a finalizer (`__del__`, while a
    library frees objects) is printed as "Exception ignored" and dropped by Python, and the run
    went on to exit 0; such a one is delivered again, to the code that runs next."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # `run` set a quiet one
    signal.signal(signal.SIGTERM, _terminate)
    default = sys.unraisablehook

    def redeliver(unraisable: sys.UnraisableHookArgs) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            number = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) \
                else signal.SIGINT
            # from another thread, a moment later: raised here, still inside the finalizer, it
            # would be dropped again (and if it lands in another, this runs again)
            timer = threading.Timer(REDELIVER_S, os.kill, (os.getpid(), number))
            timer.daemon = True
            timer.start()
            return
        default(unraisable)

    sys.unraisablehook = redeliver


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("ECGLM_DEBUG") == "1"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure ends as one line on stderr and a documented exit code."""
    # Before torch loads: OpenMP threads that wait by spinning steal a busy laptop's cores.
    # Measured here: a 20-token answer took 4 s instead of 0.17 s with another process busy,
    # and batch used a third more CPU per record. A user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    if sys.stdout is None:  # started with stdout closed (`>&-`): every write would fail
        if sys.stderr is not None:
            sys.stderr.write("ecglm: error: standard output is closed; send it to a file or "
                             "to /dev/null\n")
        sys.exit(EXIT_ERROR)
    install_interrupt_handlers()
    try:
        code = cli.main(args=argv, prog_name="ecglm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:  # an interrupt while click parsed the command line
        if isinstance(exc.__cause__, Terminated):
            _terminated()
        _interrupted()
    except Stopped as exc:
        if exc.terminated:
            _terminated()
        _interrupted()
    except Terminated:
        _terminated()
    except KeyboardInterrupt:
        _interrupted()
    except (BrokenPipeError, StdoutClosed):
        # the reader of our stdout went away (e.g. `| head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    except ECGLMError as exc:
        if debug:
            traceback.print_exc()
        from ecglm_cli.output import error_text  # late: csv and json cost every start 10 ms

        click.echo(f"ecglm: error: {error_text(exc)}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # last resort: still one line, never a bare traceback
        if debug:
            traceback.print_exc()
        else:
            from ecglm_cli.output import error_text

            click.echo(
                f"ecglm: error: {type(exc).__name__}: {error_text(exc)} "
                "(run with --debug for details)",
                err=True,
            )
        sys.exit(EXIT_ERROR)
    # standalone_mode=False hands back ctx.exit(n) as a return value instead of exiting
    sys.exit(code if isinstance(code, int) else 0)


def _interrupted() -> None:
    click.echo("ecglm: interrupted", err=True)
    sys.exit(130)


def _terminated() -> None:
    click.echo("ecglm: terminated", err=True)
    sys.exit(128 + signal.SIGTERM)
