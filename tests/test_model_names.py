"""A model name that is nothing ecglm knows is reported as unknown, with where to find the known
names, online or offline: advice to `ecglm download` it could only fail (exit 1, not 4)."""

from __future__ import annotations

import pytest

from ecglm_cli.cli.main import main

EXAMPLE = "ecglm_cli/examples/example_12lead.hea"
UNKNOWN = ("ecglm: error: unknown model 'no-such-model': not a built-in or registry model, a "
           "downloaded bundle or an existing folder; `ecglm download --list` shows the known names")


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGLM_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("ECGLM_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def run_failing(args: list[str], capsys) -> tuple[int, str]:
    """The real entry point on a command that must fail: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
@pytest.mark.parametrize("args", [
    ["classify", EXAMPLE, "--model", "no-such-model"],
    ["ask", EXAMPLE, "Is this AF?", "--model", "no-such-model"],
    ["download", "no-such-model"],
], ids=["classify", "ask", "download"])
def test_an_unknown_name_is_unknown_everywhere(args, offline, capsys, monkeypatch):
    if offline:
        monkeypatch.setenv("ECGLM_OFFLINE", "1")
    code, err = run_failing(args, capsys)
    assert (code, err) == (1, UNKNOWN)


def test_names_that_a_download_can_fetch_still_say_how(capsys, monkeypatch):
    code, err = run_failing(["classify", EXAMPLE, "--model", "someone/some-bundle"], capsys)
    assert code == 1 and "run `ecglm download someone/some-bundle` first" in err
    monkeypatch.setenv("ECGLM_OFFLINE", "1")
    code, err = run_failing(["download", "qwen2.5-0.5b-instruct"], capsys)
    assert code == 4 and "run `ecglm download qwen2.5-0.5b-instruct" in err
    code, err = run_failing(["classify", EXAMPLE, "--model", "someone/some-bundle"], capsys)
    assert code == 4 and "ecglm download someone/some-bundle" in err
