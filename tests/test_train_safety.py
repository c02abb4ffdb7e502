"""Training never writes into a model shipped with ecglm or kept in the download cache, nor
mixes two bundles in one OUT.

`train align`/`instruct`/`lm-thresholds` write into the bundle they read unless given `--out`,
and that bundle defaults to the built-in ecglm-base: one quick run used to replace the shipped
model. Every refusal is one line, exit 2, before any data is read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lm_fixtures import add_language_model, make_encoder_bundle
from tiny_bundle import make_tiny_bundle

from ecglm_cli.cache.registry import RegistryEntry, get_entry
from ecglm_cli.cache.store import FILES, Store
from ecglm_cli.cli.main import cli, main
from ecglm_cli.data.ptbxl import load_label_spaces

TINY = ["--limit", "2", "--views", "1", "--draws", "1", "--hidden", "32", "--layers", "1",
        "--heads", "2", "--vocab-size", "400", "--val-questions", "2", "--device", "cpu",
        "--batch-size", "32", "--epochs", "1"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGLM_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("ECGLM_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(args: list[str], capsys) -> str:
    """Run the real entry point on a run that must be refused; its one error line."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2, err
    assert err.startswith("ecglm: error: ") and "\n" not in err
    assert "pass --out DIR" in err
    return err


SHIPPED = get_entry("ecglm-base").builtin_path
SMALL = get_entry("ecglm-small").builtin_path


@pytest.mark.parametrize("args", [
    ["lm-thresholds"],
    ["lm-thresholds", "--bundle", str(SHIPPED)],
    ["align"],
    ["instruct"],
    ["instruct", "--bundle", "ecglm-small"],
    ["align", "--bundle", "runs-enc", "--out", str(SHIPPED)],
    ["encoder", "--out", str(SMALL / "retrained")],
], ids=["thresholds", "thresholds-path", "align", "instruct", "instruct-small", "align-out",
        "encoder-out"])
def test_no_train_command_writes_into_the_shipped_bundles(args, tmp_path, capsys):
    if not SHIPPED.is_dir():
        pytest.skip("the built-in bundles are not installed")
    args = [str(make_encoder_bundle(tmp_path / "enc")) if a == "runs-enc" else a for a in args]
    before = snapshot(SHIPPED.parent)
    err = refused(["train", *args, "--ptbxl", str(tmp_path / "no-ptbxl")], capsys)
    assert "training would overwrite the built-in model ecglm-" in err
    assert snapshot(SHIPPED.parent) == before


def test_no_train_command_writes_into_the_model_cache(tmp_path, capsys):
    store = Store(tmp_path / "cache")
    staging = store.staging_dir("mybundle")
    make_encoder_bundle(staging / FILES / "mybundle")
    with store.lock("mybundle"):
        entry = store.install(staging, "mybundle", "sha256-0123456789abcdef",
                              {"kind": "ecg-bundle", "source": "url", "url": "x",
                               "root": "mybundle"})
    before = snapshot(tmp_path / "cache" / "models")
    err = refused(["train", "align", "--ptbxl", str(tmp_path / "no-ptbxl"), "--bundle",
                   "mybundle"], capsys)
    assert f"{entry.path}: training would overwrite a downloaded model" in err
    refused(["train", "encoder", "--ptbxl", str(tmp_path / "no-ptbxl"), "--out",
             str(tmp_path / "cache" / "models" / "new")], capsys)
    assert snapshot(tmp_path / "cache" / "models") == before


@pytest.mark.parametrize("stage", ["thresholds", "lm-thresholds", "align", "instruct"])
def test_an_out_holding_another_bundle_is_refused(stage, tmp_path, capsys):
    """`train thresholds --bundle A --out B` kept B's weights and wrote A's thresholds beside
    them, exit 0; `train align`/`instruct` trained on B's encoder and recorded A as its source."""
    source = make_encoder_bundle(tmp_path / "A")
    other = make_tiny_bundle(tmp_path / "B")
    before = snapshot(other)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", stage, "--ptbxl", str(tmp_path / "no-ptbxl"), "--bundle", str(source),
              "--out", str(other)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2, err  # a usage error, before any data is read
    assert err == (f"ecglm: error: {other}: holds another model bundle (its model.safetensors "
                   f"is not {source}'s); pass --out a new folder")
    assert snapshot(other) == before


@pytest.mark.parametrize("stage", ["encoder", "thresholds", "lm-thresholds", "align",
                                   "instruct"])
def test_an_out_that_cannot_be_written_is_refused_before_any_data_is_read(stage, tmp_path,
                                                                          capsys):
    """OUT was first written after all records were loaded or a whole epoch trained, and then
    failed as a bare NotADirectoryError, FileExistsError (`--out /dev/null`) or SafetensorError
    (a read-only disk)."""
    bundle = [] if stage == "encoder" else ["--bundle", str(make_encoder_bundle(tmp_path / "A"))]
    (tmp_path / "afile").write_text("")
    for out, code, problem in (
            (tmp_path / "afile" / "sub", 1, "cannot write there (Not a directory)"),
            (Path("/dev/null"), 2, "exists and is not a folder; pass --out DIR to write ")):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", stage, "--ptbxl", str(tmp_path / "no-ptbxl"), *bundle, "--out",
                  str(out)])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == code, err
        assert err.startswith(f"ecglm: error: {out}: {problem}") and "\n" not in err


def test_an_existing_out_on_a_read_only_disk_is_refused_before_any_data_is_read(
        tmp_path, monkeypatch, capsys):
    """A read-only OUT failed only when the first epoch's bundle was written (SafetensorError);
    the probe file stands in for the disk here, since root may write anywhere."""
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "encoder", "--ptbxl", str(tmp_path / "no-ptbxl"), "--out", str(out)])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"ecglm: error: {out}: cannot write there (Read-only file system)")


@pytest.fixture
def builtin_with_lm(shared_data, tmp_path, monkeypatch) -> Path:
    """A tiny bundle with a language model standing in for the built-in ecglm-base, so that a
    run that ignores the refusal overwrites it here and not the real one."""
    package = tmp_path / "package"
    monkeypatch.setattr(RegistryEntry, "builtin_path",
                        property(lambda entry: package / str(entry.package_dir)))
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = make_encoder_bundle(get_entry("ecglm-base").builtin_path, spaces)
    return add_language_model(bundle, "llama")


def test_lm_thresholds_leave_the_builtin_bundle_alone(builtin_with_lm, shared_data, tmp_path,
                                                      capsys):
    before = snapshot(builtin_with_lm)
    ptbxl = str(shared_data / "ptbxl")
    refused(["train", "lm-thresholds", "--ptbxl", ptbxl, "--limit", "2"], capsys)
    assert snapshot(builtin_with_lm) == before

    mine = tmp_path / "mine"
    chosen = CliRunner().invoke(cli, ["train", "lm-thresholds", "--ptbxl", ptbxl, "--limit", "2",
                                      "--out", str(mine)])
    assert chosen.exit_code == 0, chosen.output
    assert chosen.stdout.strip() == str(mine / "lm-thresholds.json")
    saved = json.loads((mine / "lm-thresholds.json").read_text())
    assert saved["chosen_on"] == {"val_folds": [9], "limit": 2, "records": 2}
    assert snapshot(builtin_with_lm) == before
    copied = snapshot(mine)
    assert {k: v for k, v in copied.items() if k != "lm-thresholds.json"} == before


def test_align_reads_the_builtin_bundle_and_writes_to_out(builtin_with_lm, shared_data,
                                                          tmp_path, capsys):
    """What scripts/train_ecglm_lm.sh does: the shipped encoder in, a runs/ folder out."""
    before = snapshot(builtin_with_lm)
    ptbxl = str(shared_data / "ptbxl")
    refused(["train", "align", "--ptbxl", ptbxl, *TINY], capsys)
    out = tmp_path / "runs" / "ecglm-lm"
    aligned = CliRunner().invoke(cli, ["train", "align", "--ptbxl", ptbxl, "--bundle",
                                       str(builtin_with_lm), "--out", str(out), *TINY])
    assert aligned.exit_code == 0, aligned.output
    assert (out / "projector.safetensors").is_file() and (out / "lm" / "tokenizer.json").is_file()
    assert snapshot(builtin_with_lm) == before


@pytest.mark.parametrize("stage", ["encoder", "align", "instruct"])
def test_a_fold_that_both_trains_and_validates_is_refused(stage, tmp_path, capsys):
    """`--train-folds 8 --val-folds 8` chose checkpoints and thresholds on training records,
    exit 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", stage, "--ptbxl", str(tmp_path), "--out", str(tmp_path / "out"),
              "--train-folds", "7,8", "--val-folds", "8"])
    assert exit_info.value.code == 2
    assert "fold 8 is in both --train-folds and --val-folds" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_test_fold_is_used_only_with_a_warning(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "encoder", "--ptbxl", str(tmp_path), "--out", str(tmp_path / "out"),
              "--val-folds", "10"])
    assert "warning: fold 10 is PTB-XL's test fold" in capsys.readouterr().err


def test_provenance_names_the_data_absolutely_and_flags_uncommitted_code(monkeypatch, tmp_path):
    """ecglm.json kept `--ptbxl` as typed ("../shared/data/ptbxl", meaningless from another
    folder), and its commit did not say when the code had uncommitted changes."""
    import subprocess

    import ecglm_cli.train.encoder as encoder
    from ecglm_cli.train.options import RunOptions

    monkeypatch.chdir(tmp_path)
    options = RunOptions(ptbxl=Path("data/ptbxl"), out=Path("out"), epochs=1, lr=1e-3)
    assert options.to_dict()["ptbxl"] == str(tmp_path / "data" / "ptbxl")

    def fake_git(args, **kwargs):
        out = {"rev-parse": "abc123\n", "status": " M ecglm_cli/x.py\n"}[args[1]]
        return subprocess.CompletedProcess(args, 0, out, "")

    monkeypatch.setattr(encoder.subprocess, "run", fake_git)
    assert encoder.git_commit() == "abc123-dirty"
