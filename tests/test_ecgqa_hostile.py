"""Hostile ECG-QA JSON: every malformed file ends as one error line naming it, and a JSON
`true` is never taken for an integer id."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ecglm_cli.cli.main import main
from ecglm_cli.data.ecgqa import load_ecgqa
from ecglm_cli.errors import EXIT_ERROR, RecordError

QUESTION = {
    "template_id": 1, "question_id": 1, "sample_id": 1, "question_type": "single-verify",
    "attribute_type": "scp_code", "question": "Does this ECG show non-diagnostic t abnormalities?",
    "answer": ["no"], "ecg_id": [1], "attribute": ["non-diagnostic t abnormalities"],
}


def _evaluate_qa_error(file: Path, ptbxl: Path, capsys) -> str:
    """The stderr of `ecglm evaluate qa` on a file it must refuse before any model loads."""
    ptbxl.mkdir(exist_ok=True)
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "qa", "--ecgqa", str(file), "--ptbxl", str(ptbxl), "--format", "json"])
    assert stop.value.code == EXIT_ERROR
    return capsys.readouterr().err


UNPARSABLE = {
    "deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "bigint": (json.dumps([QUESTION]).replace('"template_id": 1', '"template_id": ' + "9" * 5000),
               "5000 digits"),
}


@pytest.mark.parametrize("name", UNPARSABLE)
def test_unparsable_json_is_one_line_naming_the_file(tmp_path, capsys, name):
    text, reason = UNPARSABLE[name]
    file = tmp_path / f"{name}.json"
    file.write_text(text)
    lines = _evaluate_qa_error(file, tmp_path / "ptbxl", capsys).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"ecglm: error: {file}: not readable ECG-QA JSON: ")
    assert reason in lines[0] and "set_int_max_str_digits" not in lines[0]


@pytest.mark.parametrize("change", [
    {"ecg_id": [True]}, {"ecg_id": True}, {"template_id": True},
    {"sample_id": False}, {"question_id": True},
], ids=str)
def test_booleans_are_not_integer_ids(tmp_path, change):
    file = tmp_path / "bool.json"
    file.write_text(json.dumps([{**QUESTION, **change}]))
    key = next(iter(change))
    with pytest.raises(RecordError, match=f"record 0: .*{key}") as refused:
        load_ecgqa(file)
    assert refused.value.path == str(file)


def test_a_byte_order_mark_is_read_not_refused(tmp_path):
    """Files saved on Windows often start with one: "Unexpected UTF-8 BOM", exit 1."""
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([QUESTION]).encode())
    assert load_ecgqa(path).questions[0]["question"] == QUESTION["question"]


def test_an_id_too_long_for_a_file_name_is_an_absent_record(tmp_path):
    """An ecg_id of 300 digits ended in "OSError: File name too long", naming a PTB-XL path."""
    (tmp_path / "ptbxl" / "records100").mkdir(parents=True)  # the lookup goes on from there
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{**QUESTION, "ecg_id": [int("9" * 300)]}]))
    loaded = load_ecgqa(path, ptbxl_dir=tmp_path / "ptbxl")
    assert loaded.questions == [] and loaded.skipped_absent == 1


def test_an_empty_question_is_refused(tmp_path):
    """`ask` refuses an empty question, yet `train instruct --ecgqa` learnt from them."""
    path = tmp_path / "empty.json"
    path.write_text(json.dumps([{**QUESTION, "question": "  "}]))
    with pytest.raises(RecordError, match="question is empty"):
        load_ecgqa(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX only")
def test_a_named_pipe_is_not_called_missing(tmp_path, capsys):
    """`--ecgqa FIFO` said "no such ECG-QA file or folder" about a path that exists."""
    fifo = tmp_path / "questions.json"
    os.mkfifo(fifo)
    error = _evaluate_qa_error(fifo, tmp_path / "ptbxl", capsys)
    assert error.startswith(f"ecglm: error: {fifo}: not a regular file or folder")
