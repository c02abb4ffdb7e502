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


def test_statements_ecgqa_never_names_are_asked_both_ways(shared_data):
    """NORM, WPW, ... get verify questions: every labelled one is asked, and each answer is what
    the raw scp_codes say (present -> yes, diagnostic below 100 -> not sure, absent -> no)."""
    from ecglm_cli.knowledge.statements import load_statements
    from ecglm_cli.knowledge.synthesize import (
        PLAIN_WORDINGS,
        UNNAMED_WORDINGS,
        unnamed_statement_questions,
    )
    from ecglm_cli.pipeline.lm_detect import statement_question

    statements = load_statements()
    unnamed = {s.name: code for code, s in statements.items() if not s.ecgqa_name}
    assert "NORM" in unnamed.values() and len(unnamed) == 12
    for code in unnamed.values():  # the question LM detection asks is one of those trained
        name = statements[code].name
        trained = {w.format(name) for w in PLAIN_WORDINGS.get(code, UNNAMED_WORDINGS)}
        assert statement_question(code) in trained
    database = read_label_rows(shared_data / "ptbxl")
    rng = random.Random(0)
    answers = {"yes": 0, "no": 0, "not sure": 0}
    for ecg_id in sorted(database)[:400]:
        codes = database[ecg_id]["scp_codes"]
        records = unnamed_statement_questions(database[ecg_id], rng)
        asked = {unnamed[r["attribute"][0]]: r["answer"] for r in records}
        labelled = {c for c in codes if c in unnamed.values()}
        assert labelled <= set(asked)  # label implies question
        assert "NORM" in asked  # the commonest one, asked of every record, yes or no
        for code, answer in asked.items():  # answer implies label
            if code not in codes:
                expected = "no"
            elif statements[code].category["diagnostic"] and codes[code] < 100:
                expected = "not sure"
            else:
                expected = "yes"
            assert answer == [expected], (ecg_id, code, codes)
            answers[expected] += 1
    assert answers["yes"] > 100 and answers["no"] > 400  # NORM is common; two negatives each
