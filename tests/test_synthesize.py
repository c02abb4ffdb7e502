"""Synthesizer on hand-made PTB-XL rows: valid ECG-QA JSON, answers consistent with labels."""

from __future__ import annotations

import json
import random

import numpy as np
from knowledge_fixtures import row

from ecglm_cli.data.ecgqa import validation_errors
from ecglm_cli.features import measure
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.knowledge.labels import (
    axis_class,
    extra_systoles,
    infarction_stages,
    parse_leads,
    record_labels,
)
from ecglm_cli.knowledge.synthesize import (
    ABNORMAL_WORDINGS,
    CANNOT_DETERMINE,
    MEASURED_NAMES,
    explain,
    measured_context,
    measured_range,
    measurement_questions,
    report,
    reword,
    synthesize_qa,
    unanswerable_questions,
)
from ecglm_cli.knowledge.templates import packaged_templates
from ecglm_cli.signal.synthetic import synthetic_ecg

CRBBB_ROW = row(
    7, {"CRBBB": 100.0, "IMI": 50.0, "SR": 0.0, "PVC": 0.0}, heart_axis="LAD",
    infarction_stadium1="Stadium II-III", static_noise=" , I-AVR,  ", extra_beats="2VES",
)


def test_lead_notes_parse_like_ecgqa():
    assert parse_leads(" , I-AVR,  ") == {"I", "II", "III", "aVR"}
    assert parse_leads("alles") == set(parse_leads("I-V6"))
    assert parse_leads("V2,3") == {"V2", "V3"}
    assert parse_leads("Kontaktprobleme aVL ???") == {"aVL"}
    assert parse_leads(" , 2") == {"V2"}
    assert parse_leads("leicht") == set()


def test_stage_and_extra_beats():
    assert infarction_stages({"infarction_stadium1": "Stadium II-III"}) == {
        "middle stage of myocardial infarction", "old stage of myocardial infarction"}
    assert infarction_stages({"infarction_stadium1": "unknown"}) == {
        "unknown stage of myocardial infarction"}
    assert extra_systoles("1ES") == {"extrasystoles"}
    assert extra_systoles("2SVES") == {"supraventricular extrasystoles"}
    assert extra_systoles("VES") == {"ventricular extrasystoles"}


def test_output_is_valid_ecgqa_json_with_exact_answer_classes():
    records = synthesize_qa(CRBBB_ROW, per_template=3, rng=random.Random(0))
    templates = packaged_templates()
    assert {r["question_type"] for r in records} == {
        "single-verify", "single-choose", "single-query"}
    assert json.loads(json.dumps(records)) == records
    for record in records:
        assert validation_errors(record) == [], record
        classes = set(templates[record["template_id"]].answers)
        if record["template_id"] != 34:  # leads query answers "lead X"
            assert set(record["answer"]) <= classes, record
        assert record["ecg_id"] == [7]


def test_answers_agree_with_labels_in_both_directions():
    labels = record_labels(CRBBB_ROW)
    records = synthesize_qa(CRBBB_ROW, per_template=20, rng=random.Random(1))
    seen_queries = {r["template_id"]: r for r in records if r["question_type"] == "single-query"}
    assert 8 not in seen_queries and 3 not in seen_queries  # IMI is uncertain: never asserted
    assert seen_queries[10]["answer"] == ["sinus rhythm"]
    assert seen_queries[11]["answer"] == ["ventricular premature complex"]
    assert seen_queries[22]["answer"] == ["left axis deviation"]
    assert set(seen_queries[25]["answer"]) == labels.stages
    assert seen_queries[38]["answer"] == ["ventricular extrasystoles"]
    assert seen_queries[32]["answer"] == ["static noise"]
    for r in records:
        if r["template_id"] == 1:
            name = r["attribute"][0]
            expected = ("not sure" if name == "myocardial infarction in inferior leads" else
                        "yes" if name in {"complete right bundle branch block", "sinus rhythm",
                                          "ventricular premature complex"} else "no")
            assert r["answer"] == [expected], r
        if r["template_id"] == 26:
            lead = r["question"].split("lead ")[1].split()[0].rstrip("?")
            noisy = r["attribute"] == ["static noise"] and lead in {"I", "II", "III", "aVR"}
            assert r["answer"] == (["yes"] if noisy else ["no"]), r


def _measured_sinus(heart_rate: float = 72.0) -> dict:
    """What `features.measure` says of a synthetic 12-lead sinus rhythm (its real keys)."""
    signal = synthetic_ecg(heart_rate=heart_rate)
    return measure(ECGRecord(signal=signal, fs=500.0, leads=list(STANDARD_LEADS),
                             original_leads=list(STANDARD_LEADS), source="synthetic",
                             format="synthetic"))


def test_explanation_and_report_cite_the_measured_values():
    measurements = _measured_sinus()
    qrs = round(measurements["qrs_duration"]["value"])
    pr = round(measurements["pr_interval"]["value"])
    rate = round(measurements["heart_rate"]["value"])
    text = report(CRBBB_ROW, measurements)
    assert text.startswith(f"Sinus rhythm at {rate} bpm.")
    assert f"PR {pr} ms, QRS {qrs} ms, QT " in text and "QTc " in text and "axis " in text
    assert "Complete right bundle branch block: QRS duration of 120 ms or more" in text
    assert "Possible inferior myocardial infarction (likelihood 50%)" in text
    record = {"question_type": "single-query", "answer": ["complete right bundle branch block"],
              "attribute": None}
    answer = explain(record, measurements)
    assert answer.startswith("complete right bundle branch block.")
    assert "rsR'" in answer and f"QRS {qrs} ms" in answer
    context = measured_context(measurements)
    assert context.startswith(f"Measured: Heart rate {rate} bpm. PR {pr} ms")
    assert measured_context(None) == "Measured: nothing (no beats found)."


def test_measurement_questions_are_answered_from_the_values():
    measurements = _measured_sinus(heart_rate=120.0)
    assert measured_range("heart_rate", measurements) == "above the normal range"
    assert measured_range("pr_interval", measurements) == "within the normal range"
    assert measured_range("qrs_duration", {"qrs_duration": {"value": 96}}) == (
        "within the normal range")
    assert measured_range("qtc_bazett", {"qtc_bazett": {"value": 300}}) == (
        "below the normal range")
    assert measured_range("heart_rate", {"heart_rate": {"value": None}}) is None
    asked = [q for seed in range(40)
             for q in measurement_questions(measurements, random.Random(seed))]
    assert {q["question_type"] for q in asked} == {"measurement"}
    for q in asked:
        if q["question"] in ABNORMAL_WORDINGS:
            assert {"heart rate", "rr interval"} <= set(q["answer"])  # 120 bpm: fast, short RR
            assert q["answer"] == sorted(
                name for key, (_, name) in MEASURED_NAMES.items()
                if measured_range(key, measurements) not in (None, "within the normal range"))
        elif "range" in q["question"]:
            key = max((k for k, (name, _) in MEASURED_NAMES.items() if name in q["question"]),
                      key=lambda k: len(MEASURED_NAMES[k][0]))  # "corrected QT interval"
            assert q["answer"] == [measured_range(key, measurements)]
        elif "heart rate" in q["question"]:
            assert q["answer"] == [f"{measurements['heart_rate']['value']:.0f} bpm"]
    assert any(q["question"] in ABNORMAL_WORDINGS for q in asked)
    assert measurement_questions(None, random.Random(0)) == []
    assert measurement_questions(measure_nothing(), random.Random(0)) == []


def measure_nothing() -> dict:
    flat = np.zeros((12, 5000), dtype=np.float32)
    return measure(ECGRecord(signal=flat, fs=500.0, leads=list(STANDARD_LEADS),
                             original_leads=list(STANDARD_LEADS), source="flat",
                             format="synthetic"))


def test_unanswerable_questions_are_declined():
    pairs = unanswerable_questions(random.Random(3), 5)
    assert len({q for q, _ in pairs}) == 5
    assert all(a.lower().startswith(CANNOT_DETERMINE.lower()) for _, a in pairs)


def test_measured_axis_decides_axis_answers():
    assert axis_class(60) == "normal heart axis"
    assert axis_class(-45) == "left axis deviation"
    assert axis_class(120) == "right axis deviation"
    assert axis_class(-120) == "extreme axis deviation"
    measured = {"qrs_axis": {"value": 130.0, "unit": "deg"}}
    unlabelled = {**CRBBB_ROW, "heart_axis": ""}
    records = synthesize_qa(unlabelled, rng=random.Random(2), measurements=measured)
    assert [r["answer"] for r in records if r["template_id"] == 22] == [["right axis deviation"]]
    # a labelled axis is kept (docs/knowledge.md: neither source is ECG-QA's own)
    records = synthesize_qa(CRBBB_ROW, rng=random.Random(2), measurements=measured)
    assert [r["answer"] for r in records if r["template_id"] == 22] == [["left axis deviation"]]


def test_training_questions_are_typed_in_other_ways_too():
    """The LM saw only capitalised, punctuated "this ECG" questions: lowercase without "?" cost
    fold-9 query questions 0.750 -> 0.541. The training split rewords; validation does not."""
    from ecglm_cli.knowledge.dataset import record_items
    from ecglm_cli.train.lm_corpus import _examples

    question = "Does this ECG show symptoms of complete left bundle branch block in lead V1?"
    rng = random.Random(0)
    seen = [reword(question, rng) for _ in range(400)]
    plain = " ".join(question.lower().removesuffix("?").split()[3:])
    assert all(plain in s.lower() for s in seen)  # the finding and lead are never touched
    assert question in seen
    assert any(s.islower() for s in seen) and any(not s.endswith("?") for s in seen)
    assert any("this tracing" in s for s in seen)
    assert not any("electrocardiogram" in s for s in seen)  # the held-out rewording
    assert 0.35 < sum(s != question for s in seen) / len(seen) < 0.65
    items = record_items(row(1, {"CLBBB": 100.0}), seed=0)
    train = _examples(items, "instruct", random.Random(1), reworded=True)
    val = _examples(items, "instruct", random.Random(1))
    assert {e.question for e in val} <= {i["question"] for i in items} | {
        i["question"] + " Explain." for i in items}
    exact = [[e.answer for e in examples if e.question_type != "explain"]
             for examples in (train, val)]
    assert exact[0] == exact[1]
    assert sum(e.question.islower() or not e.question.endswith(("?", ".")) for e in train) > 0


def test_a_diagnostic_statement_at_likelihood_0_is_present_not_uncertain():
    """Likelihood 0 is "not given" (ECG-QA counts it present). All 33 NST_ records of folds
    1-9 were reported "Possible non-specific ST changes (likelihood 0%)"."""
    nst = row(5, {"NST_": 0.0, "SR": 0.0})
    assert "NST_" not in record_labels(nst).uncertain
    text = report(nst)
    assert "likelihood 0%" not in text and "Possible" not in text


def test_a_qrs_of_a_conduction_delay_is_above_the_normal_range():
    """At an upper limit of 120 ms, a QRS of 120 ms (complete bundle branch block) and of
    111-119 ms (conduction delay, by the statements' own criteria) was "within"."""
    for qrs, answer in ((110, "within"), (116, "above"), (120, "above")):
        assert measured_range("qrs_duration", {"qrs_duration": {"value": qrs}}) == (
            f"{answer} the normal range")


def test_a_range_answer_agrees_with_the_value_as_written_and_nan_is_no_value():
    """59.6 bpm was written "60 bpm" and answered "below the normal range"; a NaN value was
    written "nan bpm"."""
    rate = {"heart_rate": {"value": 59.6, "unit": "bpm"}}
    assert measured_range("heart_rate", rate) == "within the normal range"
    nan = {"heart_rate": {"value": float("nan"), "unit": "bpm"}}
    assert measured_range("heart_rate", nan) is None
    assert measurement_questions(nan, random.Random(0)) == []
