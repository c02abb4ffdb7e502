"""Training a tiny bundle on real PTB-XL records, reloading it, evaluating it, breaking it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ecglm_cli.cli.main import cli, main
from ecglm_cli.models.bundle import load_bundle

REPO = Path(__file__).resolve().parents[1]
TINY = ["--limit", "24", "--width", "4", "--kernel-size", "3", "--window", "2.5",
        "--batch-size", "8", "--seed", "3"]


def _train(ptbxl: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        cli, ["train", "encoder", "--ptbxl", str(ptbxl), "--out", str(out), "--device", "cpu",
              *TINY, *extra],
    )


@pytest.fixture(scope="module")
def tiny_bundle(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    result = _train(shared_data / "ptbxl", out, "--epochs", "1")
    assert result.exit_code == 0, result.output
    return out


def test_training_writes_a_complete_bundle(tiny_bundle):
    names = {p.name for p in tiny_bundle.iterdir()}
    assert {"config.json", "model.safetensors", "thresholds.json", "metrics.json",
            "provenance.json", "metrics.jsonl", "checkpoint"} <= names
    log = [json.loads(line) for line in (tiny_bundle / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1]
    provenance = json.loads((tiny_bundle / "provenance.json").read_text())
    assert provenance["train_folds"] == list(range(1, 9)) and provenance["val_folds"] == [9]
    assert provenance["seed"] == 3
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    assert set(metrics["lead_sets"]) == {"12", "limb", "I", "II"}


def test_training_files_are_strict_json(shared_data, tmp_path):
    """With no AUC to compute (one validation record), metrics were written as bare NaN, which
    jq and JavaScript refuse; they are null."""
    def strict(text):
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name}"))

    out = tmp_path / "one"
    result = _train(shared_data / "ptbxl", out, "--epochs", "1", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "val superdiagnostic AUC n/a, mean AUC n/a" in result.stderr  # it read 0.0000
    assert "come from only 1 validation record;" in result.stderr  # it read F1 1.0, no word
    strict((out / "metrics.json").read_text())
    for line in (out / "metrics.jsonl").read_text().splitlines():
        strict(line)


def test_ctrl_c_while_thresholds_are_written_leaves_both_files_of_one_choice(
        shared_data, tiny_bundle, tmp_path, monkeypatch):
    """`thresholds.json` and `metrics.json` were written one after the other unguarded: a
    Ctrl-C between them left the cuts of one choice beside the figures of another."""
    from conftest import interrupt_before

    import ecglm_cli.train.thresholds as module

    out = tmp_path / "again"
    interrupt_before(monkeypatch, module, "write_json")  # the first of the two writes
    result = CliRunner().invoke(cli, [
        "train", "thresholds", "--ptbxl", str(shared_data / "ptbxl"), "--bundle",
        str(tiny_bundle), "--out", str(out), "--limit", "12", "--device", "cpu"])
    assert "interrupted" in str(result.exception)
    assert json.loads((out / "metrics.json").read_text())["thresholds_chosen"]["records"] == 12


def test_thresholds_are_chosen_again_into_a_copy(shared_data, tiny_bundle, tmp_path):
    out = tmp_path / "again"
    before = (tiny_bundle / "thresholds.json").read_text()
    result = CliRunner().invoke(cli, [
        "train", "thresholds", "--ptbxl", str(shared_data / "ptbxl"), "--bundle",
        str(tiny_bundle), "--out", str(out), "--limit", "12", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tiny_bundle / "thresholds.json").read_text() == before  # the original is left alone
    assert "warning: thresholds and validation figures come from only 12 validation" in (
        result.stderr)
    chosen = json.loads((out / "thresholds.json").read_text())
    assert all(min(cuts) >= 0.02 for cuts in chosen.values())
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["lead_sets"]) == {"12", "limb", "I", "II"}
    assert 0 < metrics["lead_sets"]["12"]["diagnostic"]["records"] <= 12
    assert metrics["thresholds_chosen"]["records"] == 12
    assert load_bundle(out).thresholds["all"].min() >= 0.02
    rerun = CliRunner().invoke(cli, [  # the same bundle into the same OUT: allowed
        "train", "thresholds", "--ptbxl", str(shared_data / "ptbxl"), "--bundle",
        str(tiny_bundle), "--out", str(out), "--limit", "12", "--device", "cpu"])
    assert rerun.exit_code == 0, rerun.output


def test_bundle_round_trip_gives_the_same_outputs(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    again = load_bundle(str(tiny_bundle))
    x = torch.randn(2, 12, bundle.config.window)
    mask = torch.ones(2, 12, dtype=torch.bool)
    with torch.no_grad():
        a, b = bundle.model(x, mask), again.model(x, mask)
    assert set(a) == set(bundle.label_spaces) and len(bundle.labels("all")) == 71
    for space in a:
        torch.testing.assert_close(a[space], b[space])
    assert bundle.thresholds["superdiagnostic"].shape == (5,)


def test_resume_continues_from_the_last_epoch(shared_data, tiny_bundle, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(tiny_bundle, out)
    result = _train(shared_data / "ptbxl", out, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line)["epoch"]
              for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_stride_sets_the_bundles_inference_windows(shared_data, tiny_bundle, tmp_path):
    assert load_bundle(tiny_bundle).config.stride_s == 1.25  # default: half the 2.5 s window
    out = tmp_path / "stride"
    result = _train(shared_data / "ptbxl", out, "--epochs", "1", "--stride", "2.5")
    assert result.exit_code == 0, result.output
    assert load_bundle(out).config.stride_s == 2.5
    again = _train(shared_data / "ptbxl", out, "--epochs", "2", "--resume")  # default stride
    assert again.exit_code != 0
    assert "cannot resume with a different --stride" in str(again.exception)


def test_evaluate_prints_all_six_label_spaces(shared_data, tiny_bundle):
    result = CliRunner().invoke(cli, [
        "evaluate", "--ptbxl", str(shared_data / "ptbxl"), "--fold", "9", "--model",
        str(tiny_bundle), "--limit", "20", "--leads", "I", "--format", "jsonl", "--per-label",
    ])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    spaces = [r for r in rows if "macro_auc" in r]
    assert [r["space"] for r in spaces] == [
        "all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm"]
    assert all(0 < r["records"] <= 20 and r["leads"] == "I" for r in spaces)
    assert spaces[0]["records"] == 20  # every record has a statement; not every one a form
    labels = [r for r in rows if "positives" in r]
    assert len(labels) == 71 + 44 + 23 + 5 + 19 + 12
    assert 0 < sum(r["positives"] for r in labels if r["space"] == "superdiagnostic") <= 40


def test_evaluate_per_label_csv_has_one_header_for_both_kinds_of_row(shared_data, tiny_bundle):
    """The per-label rows came after a second header, so a CSV reader put them under the
    summary's columns ("records" = "first degree AV block")."""
    import csv
    import io

    result = CliRunner().invoke(cli, [
        "evaluate", "--ptbxl", str(shared_data / "ptbxl"), "--fold", "9", "--model",
        str(tiny_bundle), "--limit", "20", "--format", "csv", "--per-label",
    ])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 6 + 71 + 44 + 23 + 5 + 19 + 12
    assert all(row["leads"] == "12" for row in rows)
    spaces, labels = rows[:6], rows[6:]
    assert all(row["macro_auc"] and not row["label"] for row in spaces)
    assert all(row["label"] and row["positives"].isdigit() and not row["records"]
               for row in labels)


def _corrupt_truncated(path: Path) -> None:
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 3])


def _corrupt_version(path: Path) -> None:
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))


def _corrupt_label_count(path: Path) -> None:
    config = json.loads((path / "config.json").read_text())
    config["architecture"]["label_counts"]["superdiagnostic"] = 6
    config["label_spaces"]["superdiagnostic"]["labels"].append("EXTRA")
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("corrupt, message", [
    (_corrupt_truncated, "truncated or corrupt"),
    (_corrupt_version, "format version 99"),
    (_corrupt_label_count, "heads.superdiagnostic.weight has shape [5, 32]"),
])
def test_corrupted_bundle_is_one_line_and_exit_1(shared_data, tiny_bundle, tmp_path, capsys,
                                                 corrupt, message):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle, bad)
    corrupt(bad)
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--ptbxl", str(shared_data / "ptbxl"), "--fold", "9",
              "--model", str(bad)])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ecglm: error:"), captured.err
    assert message in lines[0]
    assert captured.out == ""


def test_missing_bundle_through_the_installed_entry_point(shared_data, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "evaluate", "--ptbxl", str(shared_data / "ptbxl"),
         "--model", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ecglm: error: {tmp_path / 'nowhere'}: no such file or folder"
    ]


@pytest.mark.slow
def test_torchrun_two_cpu_processes_write_a_loadable_bundle(shared_data, tmp_path):
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "ecglm_cli", "train", "encoder", "--ptbxl", str(shared_data / "ptbxl"),
         "--out", str(out), "--epochs", "1", "--device", "cpu", *TINY],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["world_size"] == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # rank 0 only
    assert load_bundle(out).config.width == 4


def test_bad_options_are_one_line_errors(shared_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--ptbxl", str(shared_data / "ptbxl"), "--leads", "MCL1"])
    assert exited.value.code == 2
    assert "12 standard leads only, not MCL1" in capsys.readouterr().err
    # an even kernel failed after every record was read, with a tensor-size RuntimeError
    with pytest.raises(SystemExit) as exited:
        main(["train", "encoder", "--ptbxl", str(shared_data / "ptbxl"), "--out", "unused",
              "--kernel-size", "2"])
    assert exited.value.code == 2
    assert "'--kernel-size': 2 is even; the encoder's kernels are odd" in capsys.readouterr().err
    # a fold PTB-XL does not have was dropped without a word beside the others
    for command in (["train", "encoder", "--out", str(tmp_path / "x"), "--train-folds", "1,2,11"],
                    ["evaluate", "--fold", "9,19"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--ptbxl", str(shared_data / "ptbxl")])
        assert exited.value.code == 2
        assert "PTB-XL's folds (strat_fold) are 1 to 10, not 1" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as exited:
            main(["train", "encoder", "--ptbxl", str(shared_data / "ptbxl"), "--out",
                  str(tmp_path / "unused"), "--device", "cuda"])
        assert exited.value.code == 1
        assert capsys.readouterr().err.strip().splitlines() == [
            "ecglm: error: --device cuda was asked for, but no CUDA GPU is available"]


def test_an_interrupted_bundle_copy_is_finished_by_the_rerun(tmp_path, monkeypatch):
    """`train thresholds --out X` interrupted while copying the compact LM left X/lm with one
    of its files; the rerun kept it (the copy skips what X holds), and the bundle was broken."""
    from ecglm_cli.models.bundle import copy_bundle, resolve_bundle_dir

    source = resolve_bundle_dir("ecglm-base")
    copied = []

    def copy_then_interrupt(src, dst, *args, **kwargs):
        if copied:
            raise KeyboardInterrupt
        copied.append(dst)
        return shutil.copy2(src, dst)

    out = tmp_path / "X"
    real_copytree = shutil.copytree
    monkeypatch.setattr(shutil, "copytree", lambda src, dst: real_copytree(
        src, dst, copy_function=copy_then_interrupt))
    with pytest.raises(KeyboardInterrupt):
        copy_bundle(source, out)
    monkeypatch.undo()
    copy_bundle(source, out)
    for item in (source / "lm").iterdir():
        assert (out / "lm" / item.name).read_bytes() == item.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in source.iterdir() if p.is_file() or p.name == "lm")
    load_bundle(str(out)).language_model(None)  # a whole bundle, LM included



def test_an_interrupt_at_the_end_of_an_epoch_waits_for_its_checkpoint(shared_data, tiny_bundle,
                                                                      tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM between the bundle and the checkpoint of epoch 2 left the checkpoint at
    epoch 1 under epoch-2 weights: `--resume` trained epoch 2 again, and logged it twice."""
    from conftest import interrupt_before

    import ecglm_cli.train.encoder as encoder_module

    out = tmp_path / "run"
    shutil.copytree(tiny_bundle, out)
    interrupt_before(monkeypatch, encoder_module, "_save_checkpoint")  # the epoch's last write
    result = _train(shared_data / "ptbxl", out, "--epochs", "3", "--resume")
    assert result.exception is not None and "interrupted" in str(result.exception)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 2  # the epoch was finished, then it stopped
    epochs = [json.loads(line)["epoch"]
              for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_a_rerun_without_resume_refuses_and_resume_on_a_new_folder_starts(shared_data,
                                                                          tiny_bundle, tmp_path):
    """A rerun without --resume started over silently, overwriting the run and appending to
    its metrics.jsonl (two runs' epochs in one file); `--resume` on a folder with no run failed,
    so a re-queued job that always passes it could not start."""
    out = tmp_path / "run"
    shutil.copytree(tiny_bundle, out)
    before = (out / "metrics.jsonl").read_text()
    again = _train(shared_data / "ptbxl", out, "--epochs", "1")
    assert again.exception.exit_code == 2  # a usage error, before any data is read
    assert "pass --resume to continue it" in str(again.exception)
    assert (out / "metrics.jsonl").read_text() == before
    fresh = _train(shared_data / "ptbxl", tmp_path / "new", "--epochs", "1", "--resume")
    assert fresh.exit_code == 0, fresh.output
    assert "nothing to resume" in fresh.stderr
    assert json.loads((tmp_path / "new" / "checkpoint" / "state.json").read_text())[
        "epochs_done"] == 1


def test_a_loss_that_is_no_longer_a_number_stops_the_run_before_it_writes(shared_data,
                                                                           tmp_path):
    """With `--lr 1e12` the run exited 0 and wrote an all-NaN bundle (the NaN epoch's score of
    0.0 beat the initial best), which `classify` then used: no findings, every probability
    null."""
    out = tmp_path / "run"
    diverged = _train(shared_data / "ptbxl", out, "--epochs", "3", "--lr", "1e12")
    assert diverged.exit_code == 1
    message = str(diverged.exception)
    assert message.startswith(("the training loss became nan at epoch 1, step ",
                               "the weights stopped being numbers in epoch 1 "))
    assert "(peak learning rate 1e+12)" in message and "lower --lr" in message
    assert not (out / "model.safetensors").exists() and not (out / "metrics.jsonl").exists()


def test_resume_refuses_options_that_shape_the_run(shared_data, tiny_bundle, tmp_path):
    """A changed --lr or --batch-size was taken on --resume, and provenance.json then gave the
    last call's values for every epoch. The refusal is a usage error, before any record is read
    (it came after all of them were, exit 1)."""
    out = tmp_path / "run"
    shutil.copytree(tiny_bundle, out)
    for option, value in (("--lr", "0.5"), ("--batch-size", "4"), ("--keep", "last")):
        result = _train(shared_data / "ptbxl", out, "--epochs", "2", "--resume", option, value)
        assert result.exception.exit_code == 2
        assert f"cannot resume with a different {option}" in str(result.exception)
        assert "reading" not in result.stderr


def test_weights_or_statistics_that_overflow_the_stored_type_stop_the_run():
    """`--lr 10` left BatchNorm running variances over float16's range: the loss was finite,
    the bundle was written (exit 0) with infinities in it, and `classify` then refused it.
    Buffers were not checked at all."""
    from ecglm_cli.train.options import TrainingDiverged, check_weights

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    check_weights(model, "epoch 1", 0.003, stored_as=torch.float16)
    model[1].running_var.fill_(1e6)  # finite in float32, infinity in float16
    check_weights(model, "epoch 1", 10.0)  # an LM stored as float32 keeps it
    with pytest.raises(TrainingDiverged, match="the weights outgrew float16, in which the "
                                               "bundle stores them, in epoch 1"):
        check_weights(model, "epoch 1", 10.0, stored_as=torch.float16)
    model[1].running_var.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="stopped being numbers"):
        check_weights(model, "epoch 1", 10.0)


def test_weights_files_are_readable_as_the_umask_allows(tiny_bundle):
    """safetensors 0.8 writes 0600: a bundle trained on a shared server could not be read by
    colleagues, though its JSON files could."""
    mask = os.umask(0)
    os.umask(mask)
    for path in (tiny_bundle / "model.safetensors",
                 *sorted((tiny_bundle / "checkpoint").glob("*.safetensors"))):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path


def test_resume_keeps_one_metrics_line_per_epoch(shared_data, tiny_bundle, tmp_path):
    """An epoch whose line was written but not its checkpoint (a full disk, a kill) was logged
    twice once resumed: metrics.jsonl read epochs 1, 1, 2, 3."""
    out = tmp_path / "run"
    shutil.copytree(tiny_bundle, out)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    stale = json.loads(lines[-1])
    stale["epoch"] = 2
    (out / "metrics.jsonl").write_text("\n".join([*lines, json.dumps(stale)]) + "\n")
    resumed = _train(shared_data / "ptbxl", out, "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in metrics] == [1, 2]
    again = _train(shared_data / "ptbxl", out, "--epochs", "2", "--resume")
    assert "--epochs 2 are done, nothing to train" in again.output


def test_scp_codes_the_statement_table_does_not_define_are_warned_about(shared_data, tmp_path):
    """A typo in an edited table (`NROM`) trained the record as having no such finding, and
    nothing said so."""
    source, view = shared_data / "ptbxl", tmp_path / "ptbxl"
    view.mkdir()
    for name in ("scp_statements.csv", "records100"):
        (view / name).symlink_to(source / name)
    table = (source / "ptbxl_database.csv").read_text()
    (view / "ptbxl_database.csv").write_text(table.replace("'NORM'", "'NROM'", 1))
    result = _train(view, tmp_path / "run", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert ("ecglm: warning: SCP codes that scp_statements.csv does not define train as absent: "
            "NROM (1 record)") in result.stderr
