"""ECG-QA JSON reading, skip counts, validation and the exact-match metric."""

from __future__ import annotations

import json

import pytest
from knowledge_fixtures import row, write_ptbxl

from ecglm_cli.data.ecgqa import load_ecgqa, score, validation_errors
from ecglm_cli.errors import RecordError


def _question(sample_id, ecg_ids, qtype="single-verify", answer=("yes",)):
    return {
        "template_id": 27, "question_id": 1, "sample_id": sample_id, "question_type": qtype,
        "attribute_type": "noise", "question": "Does this ECG show static noise?",
        "answer": list(answer), "ecg_id": list(ecg_ids), "attribute": ["static noise"],
    }


@pytest.fixture
def ecgqa_dir(tmp_path):
    chunk = tmp_path / "ecgqa" / "template" / "train"
    chunk.mkdir(parents=True)
    questions = [
        _question(0, [1]), _question(1, [2], answer=["no"]), _question(2, [3]),
        _question(3, [1, 2], "comparison_irrelevant-verify"),
        _question(4, [1, 3], "comparison_irrelevant-verify"),
        _question(5, [2], "single-query", answer=["static noise", "burst noise"]),
    ]
    (chunk / "00000.json").write_text(json.dumps(questions[:3]))
    (chunk / "00003.json").write_text(json.dumps(questions[3:]))
    ptbxl = write_ptbxl(tmp_path / "ptbxl", [row(1, {"SR": 0.0}), row(2, {"SR": 0.0})])
    return tmp_path / "ecgqa", ptbxl


def test_loader_reads_folder_and_file(ecgqa_dir):
    root, _ = ecgqa_dir
    assert len(load_ecgqa(root).questions) == 6
    one = load_ecgqa(root / "template" / "train" / "00000.json")
    assert [q["sample_id"] for q in one.questions] == [0, 1, 2]


def test_loader_single_only_and_absent_counts(ecgqa_dir):
    root, ptbxl = ecgqa_dir
    loaded = load_ecgqa(root, single_only=True, ptbxl_dir=ptbxl)
    assert loaded.skipped_type == 2
    assert loaded.skipped_absent == 1  # ecg 3 has no record
    assert sorted(q["sample_id"] for q in loaded.questions) == [0, 1, 5]
    both = load_ecgqa(root, ptbxl_dir=ptbxl)
    assert both.skipped_absent == 2 and both.skipped_type == 0


def test_loader_rejects_malformed_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "x"}]')
    with pytest.raises(RecordError, match="missing"):
        load_ecgqa(bad)
    bad.write_text("{not json")
    with pytest.raises(RecordError):
        load_ecgqa(bad)
    with pytest.raises(RecordError):
        load_ecgqa(tmp_path / "nowhere")


def test_validation_errors_name_the_problem():
    good = _question(0, [1])
    assert validation_errors(good) == []
    assert validation_errors({**good, "answer": []})
    assert validation_errors({**good, "ecg_id": [1, 2]})
    assert validation_errors({**good, "question_type": "single-guess"})


def test_score_exact_set_match_per_type(ecgqa_dir):
    root, _ = ecgqa_dir
    questions = load_ecgqa(root).questions
    oracle = [q["answer"] for q in questions]
    assert score(oracle, questions)["accuracy"] == 1.0
    reordered = [list(reversed(a)) for a in oracle]
    assert score(reordered, questions)["accuracy"] == 1.0
    partial = [a[:1] for a in oracle]  # drops one of the two query answers
    result = score(partial, questions)
    assert result["per_type"]["single-query"]["accuracy"] == 0.0
    assert result["per_type"]["single-verify"]["accuracy"] == 1.0
    assert result["per_template"][27]["n"] == len(questions)  # the fixture's one template
    assert result["per_template"][27]["correct"] == result["correct"]
    always_yes = score(["yes"] * len(questions), questions)
    assert always_yes["accuracy"] < 1.0
    by_id = score({q["sample_id"]: q["answer"] for q in questions[:2]}, questions)
    assert by_id["correct"] == 2


def test_folder_without_json_is_an_error_not_zero_questions(tmp_path):
    (tmp_path / "notes.txt").write_text("not a question file")
    with pytest.raises(RecordError, match="no ECG-QA .json files"):
        load_ecgqa(tmp_path)


def test_score_of_no_questions_has_no_accuracy():
    assert score([], [])["accuracy"] is None
