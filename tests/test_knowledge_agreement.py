"""The synthesizer answers ECG-QA's own questions on shared PTB-XL records as ECG-QA does.

Checked both ways on real records: the official answer is what our labels give (an answer
implies the label), and every labelled finding shows up in our query answers (a label implies
the answer). docs/knowledge.md reports the measured agreement.
"""

from __future__ import annotations

import random

import pytest

from ecglm_cli.data.ecgqa import load_ecgqa, normalise_answer, score
from ecglm_cli.data.ptbxl_table import read_label_rows
from ecglm_cli.knowledge.labels import record_labels
from ecglm_cli.knowledge.synthesize import answer_for, lead_of, synthesize_qa
from ecglm_cli.knowledge.templates import load_templates


@pytest.fixture(scope="module")
def official(shared_data):
    ptbxl = shared_data / "ptbxl"
    loaded = load_ecgqa(shared_data / "ecgqa" / "ptbxl" / "template", single_only=True,
                        ptbxl_dir=ptbxl)
    if not loaded.questions:
        pytest.skip("no single-ECG ECG-QA question refers to a shared PTB-XL record")
    return loaded, read_label_rows(ptbxl), load_templates(shared_data / "ecgqa" / "ptbxl")


def _label_oracle(question, database, templates):
    """Test double: answers an ECG-QA question from the record's labels alone."""
    labels = record_labels(database[question["ecg_id"][0]])
    template = templates[question["template_id"]]
    return answer_for(template, labels, list(question["attribute"] or []),
                      lead_of(question["question"]))


def test_official_answers_match_label_answers(official):
    loaded, database, templates = official
    questions = [q for q in loaded.questions if q["template_id"] in templates]
    predictions = [_label_oracle(q, database, templates) for q in questions]
    result = score(predictions, questions)
    print(f"agreement with ECG-QA on {result['n']} questions: {result['accuracy']:.4f}")
    assert result["n"] >= 1000
    assert result["accuracy"] == 1.0, result
    assert score([["yes"]] * len(questions), questions)["accuracy"] < 0.5


def test_label_implies_answer_and_answer_implies_label(official):
    _, database, templates = official
    rng = random.Random(0)
    checked = 0
    for ecg_id in sorted(database)[:300]:
        row = database[ecg_id]
        labels = record_labels(row)
        records = synthesize_qa(row, templates=templates, rng=rng)
        queries = {r["template_id"]: normalise_answer(r["answer"]) for r in records
                   if r["question_type"] == "single-query"}
        if 10 in queries:  # rhythm: every labelled rhythm is answered, and only those
            assert queries[10] == normalise_answer(sorted(labels.present["rhythm"]) or ["none"])
        if 11 in queries:
            assert queries[11] == normalise_answer(sorted(labels.present["form"]) or ["none"])
        if 8 in queries:
            assert queries[8] == normalise_answer(sorted(labels.present["diagnostic"]) or ["none"])
        assert queries[32] == normalise_answer(sorted(labels.noise_present) or ["none"])
        for record in records:
            if record["template_id"] == 1 and record["answer"] == ["yes"]:
                assert any(record["attribute"][0] in f for f in labels.present.values())
            if record["template_id"] == 27:
                column = record["attribute"][0].replace(" ", "_")
                assert (record["answer"] == ["yes"]) == bool(row[column].strip())
        checked += 1
    assert checked == min(300, len(database))
