"""`train align` then `train instruct` (with --resume) on a few real PTB-XL records, then `ask`."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import interrupt_before
from lm_fixtures import make_encoder_bundle

from ecglm_cli.cli.main import cli
from ecglm_cli.data.ptbxl import PTBXL, load_label_spaces

TINY = ["--limit", "3", "--views", "2", "--draws", "1", "--hidden", "32", "--layers", "1",
        "--heads", "2", "--vocab-size", "400", "--val-questions", "4", "--device", "cpu",
        "--batch-size", "32"]


def _aligned(shared_data, tmp_path):
    """A one-epoch `train align` on a random encoder bundle: (ptbxl folder, bundle)."""
    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    out = tmp_path / "ecglm"
    aligned = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                       str(encoder), "--out", str(out), "--epochs", "1", *TINY])
    assert aligned.exit_code == 0, aligned.output
    return ptbxl, out


def test_align_instruct_resume_and_ask(shared_data, tmp_path):
    ptbxl, out = _aligned(shared_data, tmp_path)
    runner = CliRunner()
    assert (out / "lm" / "model.safetensors").exists() and (out / "projector.safetensors").exists()
    assert (out / "model.safetensors").exists()  # the encoder travels with the LM parts

    first = runner.invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle", str(out),
                                "--epochs", "1", *TINY])
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                                  str(out), "--epochs", "2", "--resume", *TINY])
    assert resumed.exit_code == 0, resumed.output
    assert "[train instruct] resuming after epoch 1" in resumed.stderr  # as train encoder says
    changed = runner.invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                                  str(out), "--epochs", "3", "--resume", *TINY, "--lr", "0.5"])
    assert "cannot resume with a different --lr" in str(changed.exception)  # it was taken
    for option, value in (("--draws", "3"), ("--hidden", "64")):  # taken, and recorded
        changed = runner.invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                                      str(out), "--epochs", "3", "--resume", *TINY, option, value])
        assert f"cannot resume with a different {option}" in str(changed.exception)
        # a usage error, before any record is measured (it came after, as exit 1)
        assert changed.exception.exit_code == 2 and "measuring" not in changed.stderr
    parts = json.loads((out / "ecglm.json").read_text())
    history = parts["trained"]["instruct"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert "align" in parts["trained"]
    assert set(history[-1]["val_accuracy"]) <= {"single-verify", "single-choose", "single-query",
                                                "measurement"}
    assert parts["measured"] is True  # the default: the LM reads the measured values
    assert parts["trained"]["instruct"]["options"]["draws"] == 1  # recorded with the run

    copied = runner.invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle", str(out),
                                 "--out", str(tmp_path / "copy"), "--epochs", "1", *TINY])
    assert copied.exit_code == 0, copied.output  # continues from the copied compact LM
    assert (tmp_path / "copy" / "lm" / "tokenizer.json").read_bytes() == (
        out / "lm" / "tokenizer.json").read_bytes()
    copy_runs = json.loads((tmp_path / "copy" / "ecglm.json").read_text())["trained"]["instruct"]
    assert len(copy_runs["history"]) == 1  # the new run, which keeps the one it continues:
    assert copy_runs["continues"]["history"] == history
    assert "continues" not in copy_runs["continues"]

    record = next((ptbxl / "records100").rglob("*_lr.hea"))
    asked = runner.invoke(cli, ["ask", str(record), "Does this ECG show symptoms of sinus "
                                "rhythm?", "--model", str(out), "--max-new-tokens", "4"])
    assert asked.exit_code == 0, asked.output


def test_an_interrupt_at_the_end_of_an_align_epoch_waits_for_its_checkpoint(shared_data,
                                                                           tmp_path,
                                                                           monkeypatch):
    """Ctrl-C or SIGTERM between an epoch's LM parts and its checkpoint left the checkpoint one
    epoch behind the weights: `--resume` trained that epoch again, and logged it twice."""
    import ecglm_cli.train.lm as lm_module

    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    out = tmp_path / "ecglm"
    interrupt_before(monkeypatch, lm_module, "_save_checkpoint")  # the epoch's last write
    result = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                      str(encoder), "--out", str(out), "--epochs", "2", *TINY])
    assert result.exception is not None and "interrupted" in str(result.exception)
    state = json.loads((out / "checkpoint" / "lm-align.json").read_text())
    assert state["epoch"] == 1  # the epoch was finished, checkpoint included, then it stopped
    epochs = [json.loads(line)["epoch"]
              for line in (out / "lm-metrics.jsonl").read_text().splitlines()]
    assert epochs == [1]


def test_an_lm_loss_that_is_no_longer_a_number_stops_the_run(shared_data, tmp_path):
    """`train align --lr 1e30` exited 0 with NaN projector and LM weights; `ask` then answered
    "" with exit 0."""
    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    out = tmp_path / "ecglm"
    result = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                      str(encoder), "--out", str(out), "--epochs", "2",
                                      "--lr", "1e30", *TINY])
    assert result.exit_code == 1, result.output
    assert str(result.exception).startswith(("the training loss became nan at align epoch 2, ",
                                             "the weights stopped being numbers in align epoch 2"))
    epochs = [json.loads(line)["epoch"]
              for line in (out / "lm-metrics.jsonl").read_text().splitlines()]
    assert epochs == [1]  # the last epoch written is whole and finite
    from safetensors.torch import load_file

    for weights in (out / "projector.safetensors", out / "lm" / "model.safetensors"):
        assert all(bool(t.isfinite().all()) for t in load_file(weights).values())


def test_align_refuses_to_replace_an_lm_trained_in_out(shared_data, tmp_path):
    """A second `train align` into the same OUT (or into an instruction-tuned bundle, OUT's
    default) replaced the LM, dropped `instruct` from ecglm.json and appended a second run to
    lm-metrics.jsonl, exit 0."""
    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    out = tmp_path / "ecglm"
    align = ["train", "align", "--ptbxl", str(ptbxl), "--bundle", str(encoder), "--out",
             str(out), "--epochs", "1", *TINY]
    first = CliRunner().invoke(cli, align)
    assert first.exit_code == 0, first.output
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = CliRunner().invoke(cli, align)
    assert again.exception.exit_code == 2  # a usage error, before any data is read
    assert "already holds a language model (align), which `train align` would replace" in str(
        again.exception)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    fresh = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                     str(out), "--out", str(tmp_path / "new"), "--epochs", "1",
                                     *TINY])
    assert fresh.exit_code == 0, fresh.output  # a new OUT from a bundle with an LM: a new LM


def test_empty_splits_are_one_line_errors_and_no_validation_questions_skip_validation(
        shared_data, tmp_path):
    """`--val-questions 0` (allowed by --help) and a fold with no records ended in IndexError
    inside the tokenizer, after the records had been measured and encoded."""
    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    base = ["train", "align", "--ptbxl", str(ptbxl), "--bundle", str(encoder), "--epochs", "1",
            *TINY]
    for folds in (["--train-folds", "10"], ["--val-folds", "10"]):
        result = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / folds[0]), *folds])
        assert result.exit_code == 1
        assert str(result.exception).endswith("no fold 10 in the table (it has folds 1, 2, 3, "
                                              "4, 5, 6, 7, 8, 9)")
    quiet = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "quiet"), "--val-questions",
                                     "0"])
    assert quiet.exit_code == 0, quiet.output
    metrics = json.loads((tmp_path / "quiet" / "lm-metrics.jsonl").read_text())
    assert metrics["val_loss"] is None


def test_ecgqa_questions_left_out_of_training_are_counted(shared_data, tmp_path, capsys):
    """Questions about records outside the training folds, or not in the PTB-XL folder, were
    dropped without a word, and ecglm.json listed the file as used."""
    from ecglm_cli.data.ptbxl import PTBXL
    from ecglm_cli.train.lm import LMTrainOptions
    from ecglm_cli.train.lm_corpus import build_texts

    ptbxl = shared_data / "ptbxl"
    train_id = PTBXL(ptbxl).select(range(1, 9), 3)[0].ecg_id
    val_id = PTBXL(ptbxl).select([9], 1)[0].ecg_id
    questions = [{"template_id": 1, "question_id": n, "sample_id": n,
                  "question_type": "single-verify", "attribute_type": "scp_code",
                  "question": "Does this ECG show symptoms of atrial fibrillation?",
                  "answer": ["no"], "ecg_id": [ecg], "attribute": ["atrial fibrillation"]}
                 for n, ecg in enumerate((train_id, val_id, 99999))]
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(questions))
    options = LMTrainOptions(stage="instruct", ptbxl=ptbxl, bundle="unused", out=tmp_path,
                             epochs=1, lr=1e-3, limit=3, measured=False, ecgqa=(path,),
                             draws=1)
    texts = build_texts(options)
    assert sum(e.question == questions[0]["question"] and e.ecg_id == train_id
               for e in texts.train) >= 1
    err = capsys.readouterr().err
    assert (f"{path}: 1 ECG-QA questions used; left out 1 about records outside the training "
            f"folds, 1 about records not in {ptbxl}, 0 comparing two ECGs") in err


def test_instruct_on_a_bundle_without_an_lm_says_it_starts_a_new_one(shared_data, tmp_path):
    """`train instruct` on an encoder-only bundle silently trained a new LM from nothing."""
    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    result = CliRunner().invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                                      str(encoder), "--out", str(tmp_path / "out"), "--epochs",
                                      "1", *TINY])
    assert result.exit_code == 0, result.output
    assert "holds no language model: starting a new compact LM from scratch" in result.stderr
    assert "train align" in result.stderr


def test_a_rerun_without_resume_refuses_an_unfinished_run_but_continues_a_finished_one(
        shared_data, tmp_path, monkeypatch):
    """`train instruct` rerun without --resume after an interruption started a second full run
    on top (a second warm-up; epochs 1..13 then 1..30 in lm-metrics.jsonl), exit 0."""
    import ecglm_cli.train.lm as lm_module

    ptbxl, out = _aligned(shared_data, tmp_path)
    runner = CliRunner()
    instruct = ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle", str(out), "--epochs",
                "2", *TINY]
    with monkeypatch.context() as patched:
        interrupt_before(patched, lm_module, "_save_checkpoint")  # stops after epoch 1 of 2
        interrupted = runner.invoke(cli, instruct)
    assert interrupted.exception is not None and "interrupted" in str(interrupted.exception)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = runner.invoke(cli, instruct)
    assert again.exception.exit_code == 2, again.output  # a usage error, before any data is read
    assert str(again.exception) == (f"{out}: holds an unfinished instruct run (epoch 1 of 2); "
                                    "pass --resume to continue it, or --out a new folder")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    finished = runner.invoke(cli, [*instruct, "--resume"])
    assert finished.exit_code == 0, finished.output
    more = runner.invoke(cli, instruct)  # a finished run's LM may be trained on (docs/ecglm.md)
    assert more.exit_code == 0, more.output
    instruct_runs = json.loads((out / "ecglm.json").read_text())["trained"]["instruct"]
    assert [h["epoch"] for h in instruct_runs["continues"]["history"]] == [1, 2]


def test_resume_with_nothing_to_resume_starts_from_the_first_epoch(shared_data, tmp_path):
    """`--resume` on an OUT with no checkpoint of the stage failed ("nothing to resume", exit 1;
    instruct only after computing the encoder features), while `train encoder` starts from the
    first epoch there, so that a re-queued job can always pass it."""
    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    out = tmp_path / "ecglm"
    runner = CliRunner()
    for stage, bundle in (("align", encoder), ("instruct", out)):
        result = runner.invoke(cli, ["train", stage, "--ptbxl", str(ptbxl), "--bundle",
                                     str(bundle), "--out", str(out), "--epochs", "1", "--resume",
                                     *TINY])
        assert result.exit_code == 0, result.output
        assert (f"[train {stage}] nothing to resume in {out}; starting from the first epoch"
                in result.stderr)
        state = json.loads((out / "checkpoint" / f"lm-{stage}.json").read_text())
        assert state["epoch"] == 1
    assert set(json.loads((out / "ecglm.json").read_text())["trained"]) == {"align", "instruct"}


def test_records_left_out_of_lm_training_are_reported(shared_data, tmp_path):
    """`train encoder` names the records it skips; the LM stages dropped them without a word."""
    source = shared_data / "ptbxl"
    view = tmp_path / "ptbxl"
    (view / "records100" / "00000").mkdir(parents=True)
    for name in ("scp_statements.csv", "ptbxl_database.csv"):
        (view / name).symlink_to(source / name)
    rows = PTBXL(source).entries
    first = next(entry.ecg_id for entry in rows if entry.fold <= 8)  # --limit 3 takes it
    for file in (source / "records100" / "00000").iterdir():
        if not file.name.startswith(f"{first:05d}_"):
            (view / "records100" / "00000" / file.name).symlink_to(file)
    spaces = {n: s.labels for n, s in load_label_spaces(source / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(tmp_path / "enc", spaces)
    result = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(view), "--bundle",
                                      str(encoder), "--out", str(tmp_path / "out"),
                                      "--epochs", "1", *TINY])
    assert "skipped 1 listed records (missing or unreadable), e.g. " \
           f"{first}: missing {first:05d}_lr.hea" in result.stderr


def test_align_rerun_after_a_stop_before_its_first_epoch_trains(shared_data, tmp_path):
    """A run stopped before its first epoch leaves OUT holding the LM parts it copied from
    --bundle; the rerun (with --resume too) was refused as if OUT held an LM of its own."""
    from lm_fixtures import add_language_model

    from ecglm_cli.models.bundle import copy_bundle

    ptbxl = shared_data / "ptbxl"
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    source = add_language_model(make_encoder_bundle(tmp_path / "enc", spaces))
    out = copy_bundle(source, tmp_path / "out")  # what the stopped run left
    rerun = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                     str(source), "--out", str(out), "--epochs", "1",
                                     "--resume", *TINY])
    assert rerun.exit_code == 0, rerun.output
    assert "nothing to resume" in rerun.stderr
    refused = CliRunner().invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                       str(source), "--out", str(out), "--epochs", "1", *TINY])
    assert refused.exception.exit_code == 2  # OUT now holds an LM of its own
    assert "already holds a language model (align)" in str(refused.exception)
