"""The command group itself: help, version, not-yet-available commands and exit codes."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ecglm_cli import __version__
from ecglm_cli.cli import main as main_module
from ecglm_cli.cli.main import cli, main


def test_version_and_help_list_every_subcommand():
    runner = CliRunner()
    assert __version__ in runner.invoke(cli, ["--version"]).output
    help_text = runner.invoke(cli, ["--help"]).output
    for name in ("classify", "ask", "batch", "train", "download", "info", "evaluate"):
        assert name in help_text


def test_a_commands_ctx_exit_code_reaches_the_shell(monkeypatch):
    @click.command()
    @click.pass_context
    def failing(ctx: click.Context) -> None:
        ctx.exit(3)

    monkeypatch.setitem(main_module.COMMANDS, "failing", __name__)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "command", failing, raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["failing"])
    assert exited.value.code == 3


def test_not_yet_available_command_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(main_module.NOT_YET, "someday", "A future command.")
    with pytest.raises(SystemExit) as exited:
        main(["someday"])
    assert exited.value.code == 2
    assert "not yet available" in capsys.readouterr().err
    assert "not yet available" in CliRunner().invoke(cli, ["--help"]).output


def test_openmp_threads_wait_passively_unless_the_user_says_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with pytest.raises(SystemExit):
        main(["--version"])
    import os

    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_reader_that_stops_early_gives_exit_141_not_1(tmp_path, fmt):
    """`ecglm info ... | head -1` ended with exit 1, the code of a bad input: click's own EPIPE
    handling exited before ecglm's could give 128 + SIGPIPE."""
    import signal
    import subprocess
    import sys

    from conftest import cli_env

    from ecglm_cli.examples import example_record_path

    records = [str(example_record_path())] * 400
    proc = subprocess.Popen([sys.executable, "-m", "ecglm_cli", "info", *records, "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    assert proc.stdout.readline()  # one row (or the header), then the reader goes away
    proc.stdout.close()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_an_interrupt_swallowed_by_a_finalizer_is_delivered_again():
    """A SIGTERM that landed while a library's `__del__` ran (the `regex` package, while
    transformers loaded) was printed as "Exception ignored" and dropped: the run went on to the
    end and exited 0."""
    import subprocess
    import sys

    from conftest import cli_env

    script = """
import os, signal
from ecglm_cli.cli.main import Terminated, install_interrupt_handlers
install_interrupt_handlers()
class Freed:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(100000))  # the handler runs here, inside __del__
try:
    Freed()
    sum(range(10000000))
    print("went on")
except Terminated:
    print("terminated")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=cli_env(), timeout=120)
    assert result.stdout.strip() == "terminated"


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    """Ctrl-C printed a blank line, then "ecglm: aborted" (click's Abort)."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import cli_env

    proc = subprocess.Popen([sys.executable, "-m", "ecglm_cli", "batch", "-", "--out",
                             str(tmp_path / "rows.jsonl"), "--quiet"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env())
    time.sleep(3)  # well into the command (loading the model, or waiting for paths on stdin)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert proc.communicate()[1] == "ecglm: interrupted\n"


def test_ctrl_c_while_the_command_group_is_imported_is_quiet():
    """A Ctrl-C in the first tenth of a second, while `ecglm_cli.cli.main` and click were
    imported, printed a KeyboardInterrupt traceback."""
    import subprocess
    import sys

    from conftest import cli_env

    script = """
import importlib.abc, os, signal, sys
class InterruptAtClick(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "click":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, InterruptAtClick())
sys.argv = ["ecglm", "--version"]
from ecglm_cli.__main__ import run
run()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=cli_env(), timeout=120)
    assert result.returncode == 130 and result.stderr == ""


def test_a_closed_stdout_is_one_line_not_an_attribute_error():
    """`ecglm info rec.hea >&-` said "AttributeError: 'NoneType' object has no attribute
    'flush'"."""
    import subprocess
    import sys

    from conftest import cli_env

    from ecglm_cli.examples import example_record_path

    done = subprocess.run([sys.executable, "-m", "ecglm_cli", "info", str(example_record_path())],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(),
                          preexec_fn=lambda: __import__("os").close(1), timeout=120)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == ("ecglm: error: standard output is closed; send it "
                                            "to a file or to /dev/null")
