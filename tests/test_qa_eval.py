"""`evaluate qa` on real ECG-QA files: a label-answering test double scores 1.0; the CLI runs.
LM detection (`evaluate --via lm`, `train lm-thresholds`, `classify --via lm`) on real records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from lm_fixtures import add_language_model, make_encoder_bundle, write_record

from ecglm_cli.cli.main import cli, main
from ecglm_cli.data.ptbxl import load_label_spaces
from ecglm_cli.models.ecglm import ANSWER_SEPARATOR
from ecglm_cli.pipeline.qa_eval import evaluate_qa, load_questions

ECGQA_FILE = Path("ecgqa/ptbxl/template/train/120000.json")


class LabelAnswerer:
    """Test double, never shipped: answers each question with the record's labelled answer,
    written the way the LM writes answers (joined by the answer separator)."""

    def __init__(self, questions: list[dict]):
        self.answers = {(q["ecg_id"][0], q["question"]): q["answer"] for q in questions}

    def features(self, record, leads=None):
        return int(Path(record.source).name.split("_")[0])

    def answer_batch(self, questions, features, max_new_tokens=64):
        return [ANSWER_SEPARATOR.join(self.answers[(f, q)])
                for q, f in zip(questions, features, strict=True)]


def test_label_double_scores_one_and_absent_records_are_counted(shared_data):
    loaded = load_questions(shared_data / ECGQA_FILE, shared_data / "ptbxl", limit=60)
    result = evaluate_qa(LabelAnswerer(loaded.questions), loaded, shared_data / "ptbxl")
    assert result["n"] == 60 and result["accuracy"] == 1.0
    assert result["per_type"]["single-verify"]["accuracy"] == 1.0
    assert result["skipped_absent"] > 0  # the shared PTB-XL subset lacks most ECG-QA records


def test_wrong_answers_score_below_one(shared_data):
    loaded = load_questions(shared_data / ECGQA_FILE, shared_data / "ptbxl", limit=40)
    double = LabelAnswerer(loaded.questions)
    double.answers = {k: ["yes"] for k in double.answers}
    result = evaluate_qa(double, loaded, shared_data / "ptbxl")
    yes_share = sum(q["answer"] == ["yes"] for q in loaded.questions) / 40
    assert result["accuracy"] == yes_share < 1.0


def test_evaluate_qa_cli_with_a_tiny_model(shared_data, tmp_path):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    result = CliRunner().invoke(cli, [
        "evaluate", "qa", "--ecgqa", str(shared_data / ECGQA_FILE), "--ptbxl",
        str(shared_data / "ptbxl"), "--model", str(bundle), "--limit", "4", "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    overall = rows[-1]
    assert overall["question_type"] == "all" and overall["questions"] == 4
    assert 0.0 <= overall["accuracy"] <= 1.0 and overall["skipped_absent"] > 0
    # off a terminal the progress display is silent: stderr is the one summary line (click's
    # bar used to leave a stray "questions" line)
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines()
                                          if line.startswith("ecglm: skipped")]


def test_evaluate_qa_per_template_and_predictions_file(shared_data, tmp_path):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    answers = tmp_path / "answers.jsonl"
    result = CliRunner().invoke(cli, [
        "evaluate", "qa", "--ecgqa", str(shared_data / ECGQA_FILE), "--ptbxl",
        str(shared_data / "ptbxl"), "--model", str(bundle), "--limit", "6", "--format", "csv",
        "--by-template", "--predictions", str(answers),
    ])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "," in line]
    assert lines[0] == ("template_id,question_type,questions,correct,accuracy,skipped_absent,"
                        "skipped_comparison,skipped_unreadable,skipped_too_long")
    assert lines[1].split(",")[0].isdigit()  # a template row first
    assert lines[-1].startswith(",all,6,") and lines[-1].endswith(",0,0")  # skipped kept
    given = [json.loads(line) for line in answers.read_text().splitlines()]
    assert len(given) == 6
    loaded = load_questions(shared_data / ECGQA_FILE, shared_data / "ptbxl", limit=6)
    assert sorted(g["sample_id"] for g in given) == sorted(q["sample_id"] for q in loaded.questions)
    correct = sum(g["correct"] for g in given)
    assert lines[-1].startswith(f",all,6,{correct},{correct / 6},")


def test_evaluate_qa_resume_asks_only_what_the_interrupted_run_did_not(shared_data, tmp_path,
                                                                       monkeypatch):
    """`--predictions P` was emptied as soon as a rerun started and could not be continued: an
    interrupted evaluation lost its answers, or was answered again from the start."""
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    answers = tmp_path / "answers.jsonl"
    base = ["evaluate", "qa", "--ecgqa", str(shared_data / ECGQA_FILE), "--ptbxl",
            str(shared_data / "ptbxl"), "--model", str(bundle), "--limit", "8", "--format",
            "json", "--predictions", str(answers)]
    whole = CliRunner().invoke(cli, base)
    assert whole.exit_code == 0, whole.output
    full = answers.read_text().splitlines()
    answers.write_text("\n".join(full[:3]) + "\n" + full[3][:20])  # stopped inside line 4
    from ecglm_cli.pipeline.ask import Asker

    asked = []
    answer_batch = Asker.answer_batch

    def counting(self, questions, *args, **kwargs):
        asked.extend(questions)
        return answer_batch(self, questions, *args, **kwargs)

    monkeypatch.setattr(Asker, "answer_batch", counting)
    resumed = CliRunner().invoke(cli, [*base, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(asked) == 5  # the three kept answers are not asked again
    assert sorted(answers.read_text().splitlines()) == sorted(full)
    assert resumed.stdout.splitlines()[-1] == whole.stdout.splitlines()[-1]  # the same figures
    other = tmp_path / "other.jsonl"
    other.write_text(full[0].replace('"question":"', '"question":"Not ') + "\n")
    refused = CliRunner().invoke(cli, [*base[:-1], str(other), "--resume"])
    assert refused.exit_code == 2 and "not in these questions" in refused.output


def test_evaluate_via_lm_reports_three_spaces(shared_data, tmp_path):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    result = CliRunner().invoke(cli, [
        "evaluate", "--ptbxl", str(shared_data / "ptbxl"), "--fold", "9", "--limit", "2",
        "--model", str(bundle), "--via", "lm", "--format", "json", "--device", "auto",
    ])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [r["space"] for r in rows] == ["diagnostic", "rhythm", "form"]
    assert all(r["via"] == "lm" and 0 <= r["macro_f1"] <= 1 for r in rows)
    # the records with a label of the space: ecg 8 (IMI, ABQRS, SR) and ecg 10 (NORM, SR)
    assert [r["records"] for r in rows] == [2, 2, 1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
@pytest.mark.parametrize("command", [["evaluate"], ["evaluate", "--via", "lm"],
                                     ["train", "lm-thresholds", "--bundle", "ecglm-base",
                                      "--out", "unused"]])
def test_device_cuda_without_a_gpu_is_one_line_error(shared_data, command, tmp_path, capsys):
    """`evaluate` (heads and `--via lm`) and `train lm-thresholds` had no `--device`: they
    always ran on the CPU, on a GPU machine too."""
    command = [str(tmp_path / a) if a == "unused" else a for a in command]
    with pytest.raises(SystemExit) as exited:
        main([*command, "--ptbxl", str(shared_data / "ptbxl"), "--limit", "2",
              "--device", "cuda"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "ecglm: error: --device cuda was asked for, but no CUDA GPU is available")
    assert not (tmp_path / "unused").exists()  # lm-thresholds left a copy of the bundle there


def test_lm_thresholds_are_chosen_saved_used_and_dropped_with_a_new_lm(shared_data, tmp_path):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    chosen = CliRunner().invoke(cli, ["train", "lm-thresholds", "--ptbxl",
                                      str(shared_data / "ptbxl"), "--bundle", str(bundle),
                                      "--limit", "3"])
    assert chosen.exit_code == 0, chosen.output
    saved = json.loads((bundle / "lm-thresholds.json").read_text())
    assert saved["chosen_on"] == {"val_folds": [9], "limit": 3, "records": 3}
    assert "come from only 3 validation records" in chosen.stderr
    codes = {c for s in ("diagnostic", "rhythm", "form") for c in spaces[s]}
    assert set(saved["thresholds"]) == codes
    assert all(0.0 <= cut <= 1.0 for cut in saved["thresholds"].values())

    result = CliRunner().invoke(cli, [
        "evaluate", "--ptbxl", str(shared_data / "ptbxl"), "--fold", "9", "--limit", "2",
        "--model", str(bundle), "--via", "lm", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [(r["space"], r["via"]) for r in rows] == [
        (s, via) for s in ("diagnostic", "rhythm", "form") for via in ("lm", "lm-thresholds")]

    # classify --via lm decides at the bundle's thresholds: at 0 every statement is positive
    saved["thresholds"] = dict.fromkeys(codes, 0.0)
    (bundle / "lm-thresholds.json").write_text(json.dumps(saved))
    record = write_record(tmp_path / "rec", "r1", seed=1)
    found = CliRunner().invoke(cli, ["classify", str(record), "--model", str(bundle),
                                     "--via", "lm", "--format", "json"])
    assert found.exit_code == 0, found.output
    findings = json.loads(found.output)["findings"]
    assert {f["code"] for f in findings["rhythm"]} == set(spaces["rhythm"])
    assert all(f["threshold"] == 0.0 for f in findings["rhythm"])
    assert json.loads(found.output)["id"] == "r1"  # as `classify` names it (was the whole path)

    add_language_model(bundle, "llama")  # a new LM: thresholds chosen for the old one go
    assert not (bundle / "lm-thresholds.json").exists()


def test_a_damaged_lm_thresholds_file_is_one_clear_error(tmp_path):
    from ecglm_cli.errors import ModelError
    from ecglm_cli.models.ecglm import read_lm_thresholds

    (tmp_path / "lm-thresholds.json").write_text('{"thresholds": {"AFIB": 7}}')
    with pytest.raises(ModelError, match="between 0 and 1"):
        read_lm_thresholds(tmp_path)
    (tmp_path / "lm-thresholds.json").write_text("not json")
    with pytest.raises(ModelError, match="not a valid lm-thresholds.json"):
        read_lm_thresholds(tmp_path)
    assert read_lm_thresholds(tmp_path / "absent") == {}


def test_a_question_too_long_for_the_lm_is_skipped_not_fatal(shared_data, tmp_path):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    questions = load_questions(shared_data / ECGQA_FILE, shared_data / "ptbxl", limit=3).questions
    questions[1]["question"] = "is there noise? " * 400
    file = tmp_path / "questions.json"
    file.write_text(json.dumps(questions))
    result = CliRunner().invoke(cli, [
        "evaluate", "qa", "--ecgqa", str(file), "--ptbxl", str(shared_data / "ptbxl"),
        "--model", str(bundle), "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    overall = json.loads(result.stdout.splitlines()[-1])
    assert overall["question_type"] == "all" and overall["questions"] == 2
    assert "1 too long for the language model" in result.stderr


def test_resume_refuses_what_is_not_an_earlier_answer_and_keys_on_the_question(tmp_path):
    """A one-line notes file was taken for a torn answer and overwritten (exit 0); `"predicted":
    5` crashed after the whole run, every rerun again; a list sample_id was a TypeError; and
    questions without (or sharing) a sample_id could not be resumed, or got another's answer."""
    import click

    from ecglm_cli.cli.evaluate import _earlier_answers

    questions = [{"sample_id": None, "ecg_id": [ecg], "question": "Is this ECG normal?",
                  "answer": ["yes"]} for ecg in (1, 2)]

    def line(ecg, predicted, **extra):
        return json.dumps({"sample_id": None, "ecg_id": [ecg], "question": "Is this ECG normal?",
                           "predicted": predicted, **extra}, separators=(",", ":"))

    path = tmp_path / "answers.jsonl"
    path.write_text(line(1, ["yes"]) + "\n" + line(2, ["no"]) + "\n")
    known, kept = _earlier_answers(path, questions)
    assert sorted(known.values()) == [["no"], ["yes"]] and len(kept) == 2
    path.write_text(line(1, ["yes"]) + "\n" + line(2, ["no"])[:25])  # killed inside line 2
    assert list(_earlier_answers(path, questions)[0].values()) == [["yes"]]
    for text in ("my notes: do not delete\n", line(1, 5) + "\n",
                 line(1, ["yes"]).replace('"sample_id":null', '"sample_id":[1]') + "\n",
                 line(1, ["yes"]) + "\n" + "my notes"):
        path.write_text(text)
        with pytest.raises(click.BadParameter, match="is not an answer written by evaluate qa|"
                                                     "not in these questions"):
            _earlier_answers(path, questions)
        assert path.read_text() == text


def test_a_question_set_with_nothing_to_score_is_an_error_not_a_null_accuracy(shared_data,
                                                                               tmp_path):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    spaces = {name: space.labels for name, space in load_label_spaces(table).items()}
    bundle = add_language_model(make_encoder_bundle(tmp_path / "b", spaces), "llama")
    comparison = json.loads((shared_data / "ecgqa/ptbxl/template/valid/60000.json").read_text())
    for name, questions in (("empty.json", []), ("comparison.json", comparison[:3])):
        path = tmp_path / name
        path.write_text(json.dumps(questions))
        result = CliRunner().invoke(cli, [
            "evaluate", "qa", "--ecgqa", str(path), "--ptbxl", str(shared_data / "ptbxl"),
            "--model", str(bundle), "--format", "json"])
        assert result.exit_code == 1, result.output
        assert str(result.exception).startswith(f"{path}: no single-ECG question could be")
        assert '"accuracy"' not in result.stdout


@pytest.mark.parametrize("before", [["--model", "ecglm-small"], ["--format", "csv"],
                                    ["--fold", "3", "--limit", "1"]])
def test_options_given_before_qa_are_refused_not_ignored(before, tmp_path):
    """`evaluate --model ecglm-small qa ...` scored ecglm-base, exit 0, as if it were the
    other model."""
    result = CliRunner().invoke(cli, ["evaluate", *before, "qa", "--ecgqa", str(tmp_path),
                                      "--ptbxl", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{before[0]}" in result.output and "before `qa` would be ignored" in result.output


def test_llm_without_via_lm_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", "--ptbxl", str(tmp_path), "--llm", "x"])
    assert result.exit_code == 2 and "--llm names the LM that --via lm asks" in result.output


def test_predictions_never_replace_the_questions_nor_stay_behind_empty(tmp_path):
    """`--predictions` naming the `--ecgqa` file replaced the questions with one answer line;
    a run that failed before its first answer left an empty predictions file."""
    questions = tmp_path / "q.json"
    text = json.dumps([{"template_id": 27, "question_type": "single-verify", "ecg_id": [1],
                        "question": "Does this ECG show baseline drift?", "answer": ["no"],
                        "attribute_type": "noise", "attribute": ["baseline drift"]}])
    questions.write_text(text)
    same = CliRunner().invoke(cli, ["evaluate", "qa", "--ecgqa", str(tmp_path), "--ptbxl",
                                    str(tmp_path), "--predictions", str(questions)])
    assert same.exit_code == 2 and "one of the --ecgqa question files" in same.output
    assert questions.read_text() == text
    answers = tmp_path / "out" / "answers.jsonl"
    answers.parent.mkdir()
    failed = CliRunner().invoke(cli, ["evaluate", "qa", "--ecgqa", str(questions), "--ptbxl",
                                      str(tmp_path), "--predictions", str(answers)])
    assert failed.exit_code == 1 and "scp_statements.csv" in str(failed.exception)
    assert not answers.exists()


def test_resume_reads_answers_whose_question_holds_a_line_separator(tmp_path):
    """A question with U+2028 was written as is, and `--resume` refused the file it wrote."""
    from ecglm_cli.cli.evaluate import _earlier_answers

    question = {"sample_id": 5, "ecg_id": [1], "question": "Is this\u2028ECG normal?\x85",
                "answer": ["yes"]}
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({**question, "predicted": ["yes"]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    known, kept = _earlier_answers(path, [question])
    assert list(known.values()) == [["yes"]] and len(kept) == 1


def _ptbxl_view(shared_data: Path, folder: Path, rows: int | None, records: tuple[str, ...]
                ) -> Path:
    """A PTB-XL folder of links to the shared one: its table cut to `rows` rows, and only the
    record folders named."""
    source = shared_data / "ptbxl"
    folder.mkdir()
    (folder / "scp_statements.csv").symlink_to(source / "scp_statements.csv")
    lines = (source / "ptbxl_database.csv").read_text().splitlines(keepends=True)
    (folder / "ptbxl_database.csv").write_text(
        "".join(lines if rows is None else lines[:rows + 1]))
    for name in records:
        (folder / name).symlink_to(source / name)
    return folder


def test_records_missing_from_the_table_count_as_absent_and_records500_alone_is_read(
        shared_data, tmp_path):
    """Questions about records absent from the table given were counted as "unreadable" and
    left out of `skipped_absent`; a folder of records500/ alone scored no question."""
    loaded = load_questions(shared_data / ECGQA_FILE, shared_data / "ptbxl", limit=30)
    ids = sorted({q["ecg_id"][0] for q in loaded.questions})
    assert len(ids) > 1
    rows = [line.split(",", 1)[0] for line in
            (shared_data / "ptbxl" / "ptbxl_database.csv").read_text().splitlines()[1:]]
    kept_rows = rows.index(str(ids[0])) + 1  # the table up to the first record asked about
    trimmed = _ptbxl_view(shared_data, tmp_path / "trimmed", kept_rows, ("records100",))
    result = evaluate_qa(LabelAnswerer(loaded.questions), loaded, trimmed)
    unlisted = sum(q["ecg_id"][0] > ids[0] and str(q["ecg_id"][0]) not in rows[:kept_rows]
                   for q in loaded.questions)
    assert unlisted > 0 and result["skipped_unreadable"] == 0
    assert result["skipped_absent"] == loaded.skipped_absent + unlisted
    assert result["n"] == 30 - unlisted and result["accuracy"] == 1.0
    high = _ptbxl_view(shared_data, tmp_path / "high", None, ("records500",))
    loaded = load_questions(shared_data / ECGQA_FILE, high, limit=5)
    result = evaluate_qa(LabelAnswerer(loaded.questions), loaded, high)
    assert result["n"] == 5 and result["skipped_unreadable"] == 0 and result["accuracy"] == 1.0


def test_a_folder_mixing_wordings_or_splits_is_noted(shared_data, tmp_path):
    """`--ecgqa ecgqa/ptbxl` scored each question twice (template/ and paraphrased/ word the
    same ones) and merged the splits, without a word."""
    from ecglm_cli.data.ecgqa import mixed_sets

    root = shared_data / "ecgqa" / "ptbxl"
    assert mixed_sets(root) == ("template/ and paraphrased/ (the same questions, worded twice); "
                                "train/ and valid/ and test/ (several splits)")
    assert mixed_sets(root / "template") == "train/ and valid/ and test/ (several splits)"
    assert mixed_sets(root / "template" / "train") is None
    assert mixed_sets(shared_data / ECGQA_FILE) is None
    bundle = add_language_model(make_encoder_bundle(
        tmp_path / "b", {name: space.labels for name, space in
                         load_label_spaces(shared_data / "ptbxl" / "scp_statements.csv").items()}),
        "llama")
    result = CliRunner().invoke(cli, ["evaluate", "qa", "--ecgqa", str(root / "template"),
                                      "--ptbxl", str(shared_data / "ptbxl"), "--model",
                                      str(bundle), "--limit", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "mixes train/ and valid/ and test/ (several splits)" in result.stderr
    overall = json.loads(result.stdout.splitlines()[-1])
    assert set(overall) >= {"skipped_absent", "skipped_comparison", "skipped_unreadable",
                            "skipped_too_long"}


def test_progress_counts_every_question_also_those_skipped(shared_data, tmp_path):
    """The progress bar never reached its end when records were unreadable or not listed."""
    loaded = load_questions(shared_data / ECGQA_FILE, shared_data / "ptbxl", limit=30)
    ids = sorted({q["ecg_id"][0] for q in loaded.questions})
    rows = [line.split(",", 1)[0] for line in
            (shared_data / "ptbxl" / "ptbxl_database.csv").read_text().splitlines()[1:]]
    trimmed = _ptbxl_view(shared_data, tmp_path / "trimmed", rows.index(str(ids[0])) + 1,
                          ("records100",))
    counted = []
    result = evaluate_qa(LabelAnswerer(loaded.questions), loaded, trimmed,
                         progress=counted.append)
    assert result["skipped_absent"] > loaded.skipped_absent  # some were not listed
    assert sum(counted) == len(loaded.questions) == 30


def test_predictions_in_the_question_folder_are_refused(tmp_path):
    """A `.json` answers file inside the --ecgqa folder was written the first time, then read
    as questions (or refused with a misleading reason) on the next run."""
    folder = tmp_path / "questions"
    folder.mkdir()
    (folder / "q.json").write_text("[]")
    result = CliRunner().invoke(cli, ["evaluate", "qa", "--ecgqa", str(folder), "--ptbxl",
                                      str(tmp_path), "--predictions", str(folder / "a.json")])
    assert result.exit_code == 2 and "be read as questions" in result.output
    assert not (folder / "a.json").exists()


def test_evaluate_moves_the_model_to_the_device_its_inputs_go_to(shared_data, monkeypatch):
    """`evaluate --device cuda` sent the windows to the GPU and left the model on the CPU: every
    GPU run would have failed ("Expected all tensors to be on the same device")."""
    import ecglm_cli.pipeline.evaluate as module

    seen = []

    def capture(model, split, config, leads, device):
        seen.append((next(model.parameters()).device.type, torch.device(device).type))
        raise KeyboardInterrupt  # enough: nothing is computed on the stand-in device

    monkeypatch.setattr(module, "predict_split", capture)
    with pytest.raises(KeyboardInterrupt):
        module.evaluate_ptbxl("ecglm-small", shared_data / "ptbxl", (9,), ["I"], limit=2,
                              device="meta")  # a device that is not the CPU, on any machine
    assert seen == [("meta", "meta")]
