"""Notes that `ask` adds where its answer is not backed up: leads not read, the classifier
contradicting a yes/no, an answer stopped at the token limit."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from lm_fixtures import add_language_model, make_encoder_bundle, write_record

from ecglm_cli.cli.main import cli
from ecglm_cli.io import read_record
from ecglm_cli.pipeline.answer_notes import (
    AXIS_MARGIN_DEG,
    AXIS_RANGES,
    axis_note,
    disagreement_note,
    lead_notes,
    likelihood_note,
    measured_claim_note,
    named_leads,
    no_pr_note,
    unmeasured_note,
)
from ecglm_cli.pipeline.ask import Asker


@pytest.mark.parametrize(("question", "leads"), [
    ("Is there ST elevation in V2?", ["V2"]),
    ("Does this ECG show baseline drift in lead I?", ["I"]),
    ("Which leads, II, III and aVF, show Q waves?", ["II", "III", "aVF"]),
    ("Is this v5 or avl?", ["aVL", "V5"]),
    ("Am I at risk? Is the lead in place?", []),  # "I" is a lead only after "lead"
    ("Describe this ECG.", []),
    # from a review of the notes: English "I" after "leads", and aortic valve replacement
    ("With the leads I have, is there ischemia?", []),
    ("Looking at the leads, I see T changes.", []),
    ("Is this patient after AVR?", []),
    ("Is aVR positive?", ["aVR"]),
    ("Lead III: any Q waves? And LEADS II and aVF?", ["II", "III", "aVF"]),
    # ranges and groups of leads
    ("ST elevation in V1-V3?", ["V1", "V2", "V3"]),
    ("Is V1 to V4 ok?", ["V1", "V2", "V3", "V4"]),
    ("Any Q waves in leads I-III?", ["I", "II", "III"]),
    ("Any changes in the inferior leads?", ["II", "III", "aVF"]),
    ("Q waves in the high lateral leads?", ["I", "aVL"]),
])
def test_named_leads(question, leads):
    assert named_leads(question) == leads


def test_lead_notes_name_what_was_not_read():
    """MIT-BIH record 100 has II and V5: "ST elevation in V2?" got a plain `no`."""
    [note] = lead_notes("Is there ST elevation in V2?", ["II", "V5"])
    assert "names lead V2, which" in note and "leads read: II, V5" in note
    assert lead_notes("Is there ST elevation in V2?", ["V1", "V2"]) == []
    [axis] = lead_notes("Is there left axis deviation?", ["V1", "V2"])
    assert "two limb leads" in axis and "only V1, V2" in axis
    assert lead_notes("Is there left axis deviation?", ["I", "aVF"]) == []


def test_disagreement_with_the_classifier():
    """PTB-XL record 2 (sinus bradycardia) got `yes` to the AF question at AFIB 0.007."""
    cut = {"AFIB": 0.2, "SR": 0.5}
    question = "Does this ECG show atrial fibrillation?"
    note = disagreement_note(question, "yes", ["AFIB"], {"AFIB": 0.007}, cut)
    assert note is not None and "does not find AFIB" in note and "0.007" in note
    assert "finds AFIB" in disagreement_note(question, "No.", ["AFIB"], {"AFIB": 0.33}, cut)
    assert disagreement_note(question, "yes", ["AFIB"], {"AFIB": 0.33}, cut) is None
    assert disagreement_note(question, "no", ["AFIB"], {"AFIB": 0.007}, cut) is None
    # negated, two statements, or not a yes/no: nothing to compare
    assert disagreement_note("Is there no atrial fibrillation?", "yes", ["AFIB"],
                             {"AFIB": 0.007}, cut) is None
    assert disagreement_note("AF or sinus rhythm?", "yes", ["AFIB", "SR"],
                             {"AFIB": 0.007, "SR": 0.9}, cut) is None
    assert disagreement_note(question, "atrial fibrillation", ["AFIB"], {"AFIB": 0.007},
                             cut) is None


@pytest.mark.parametrize(("question", "statement"), [
    ("Is LBBB unlikely?", "CLBBB"),  # a `no` here agrees with a classifier that finds LBBB
    ("Does the ECG lack a left bundle branch block?", "CLBBB"),
    ("Is the ECG negative for LBBB?", "CLBBB"),
    ("Is it atrial fibrillation or flutter?", "AFIB"),  # a choice: yes/no is about neither
    ("Is there ST depression?", "STD_"),  # ischaemia has it too, not only STD_
])
def test_no_disagreement_note_where_a_yes_or_no_cannot_be_compared(question, statement):
    """A review of the notes found these flipped or compared with the wrong code."""
    probabilities, cut = {statement: 0.9}, {statement: 0.5}
    assert disagreement_note(question, "no", [statement], probabilities, cut) is None
    assert disagreement_note(question, "yes", [statement], {statement: 0.01}, cut) is None


def test_a_regional_yes_stands_when_an_overlapping_territory_is_found():
    """"Is there an anterior MI?" answered yes on an anteroseptal infarct got a note that the
    classifier does not find AMI, though it found ASMI (a review of clinicians' wordings)."""
    cut = {"AMI": 0.3, "ASMI": 0.3, "IMI": 0.3}
    question = "Is there an anterior MI?"
    assert disagreement_note(question, "yes", ["AMI"], {"AMI": 0.05, "ASMI": 0.8, "IMI": 0.0},
                             cut) is None
    # a territory that does not overlap (inferior) does not back an anterior MI
    note = disagreement_note(question, "yes", ["AMI"], {"AMI": 0.05, "ASMI": 0.1, "IMI": 0.9},
                             cut)
    assert note is not None and "does not find AMI" in note
    # a "no" is still compared with the statement asked about
    assert "finds AMI" in disagreement_note(question, "no", ["AMI"],
                                            {"AMI": 0.9, "ASMI": 0.0, "IMI": 0.0}, cut)


def test_likelihood_in_an_answer_is_flagged():
    """Record 1596 was described as "Possible normal ECG (likelihood 80%)" at NORM 0.107."""
    note = likelihood_note("Atrial fibrillation. Possible normal ECG (likelihood 80%).")
    assert "not a probability computed for this record" in note
    assert likelihood_note("Sinus rhythm. Normal ECG.") is None


@pytest.mark.parametrize(("question", "noted"), [
    ("What is the heart rate?", True),
    ("How long is the PR interval?", True),
    ("What is the QTc of this ECG?", True),
    ("How wide is the QRS duration?", True),
    ("What rhythm is this?", False),
    ("Is the heart rate normal?", False),  # a range question the heads' labels can answer
    ("What is the heart axis?", False),  # the axis family is taught from the labels
    ("Give me the QRS duration.", True),
    ("What's the HR?", True),
    ("Estimate the heart rate in bpm.", True),
    ("What is the QRS morphology?", False),
])
def test_value_questions_to_an_lm_without_measured_values(question, noted):
    """The shipped LM answers "What is the heart rate?" with a report; it never read a rate."""
    assert bool(unmeasured_note(question, lm_reads_measurements=False)) is noted
    assert unmeasured_note(question, lm_reads_measurements=True) is None


def test_a_value_question_note_gives_the_measured_value_asked_for():
    """"What is the heart rate?" got a report and a note pointing to --format json: the text
    user never saw the rate that ecglm had measured."""
    measured = {"heart_rate": {"value": 69.9, "unit": "bpm", "confidence": 1.0},
                "qt_interval": {"value": 412, "unit": "ms", "confidence": 1.0},
                "qtc_bazett": {"value": 443, "unit": "ms", "confidence": 1.0},
                "pr_interval": {"value": None, "unit": "ms",
                                "reason": "no P waves found (possible AF)"}}
    note = unmeasured_note("What's the HR?", False, measured)
    assert note.endswith("measured from the recording: heart rate 69.9 bpm")
    assert unmeasured_note("What are the QT and the corrected QT?", False, measured).endswith(
        "QT interval 412 ms, QTc (Bazett) 443 ms")
    assert unmeasured_note("What is the QTc?", False, measured).endswith("QTc (Bazett) 443 ms")
    assert unmeasured_note("How long is the PR interval?", False, measured).endswith(
        "PR interval not measured: no P waves found (possible AF)")


@pytest.mark.parametrize(("question", "noted"), [
    ("What is the PR interval?", True),
    ("Is the PR prolonged?", True),
    ("Is there first-degree AV block?", True),
    ("What is the heart rate?", False),
    ("Describe this ECG.", False),
])
def test_a_pr_question_about_fibrillation_or_flutter_is_noted(question, noted):
    """PTB-XL 00017 (AFIB, AFLT) measures PR 144 ms at confidence 0.99, and the note on "What is
    the PR interval?" gave it as if it applied."""
    cuts = {"AFIB": 0.3, "AFLT": 0.05, "SR": 0.5}
    found = no_pr_note(question, {"AFIB": 0.83, "AFLT": 0.15, "SR": 0.01}, cuts)
    assert bool(found) is noted
    if noted:
        assert "AFIB 0.830 and AFLT 0.150" in found and "does not apply" in found
    assert no_pr_note(question, {"AFIB": 0.2, "AFLT": 0.01, "SR": 0.9}, cuts) is None


def test_ask_notes_that_atrial_fibrillation_has_no_pr_interval(shared_data):
    record = shared_data / "ptbxl" / "records100" / "00000" / "00017_lr.hea"
    result = CliRunner().invoke(cli, ["ask", str(record), "What is the PR interval?"])
    assert result.exit_code == 0, result.stderr
    assert "the classifier finds AFIB" in result.stderr
    assert "a PR interval, measured or answered, does not apply" in result.stderr


def _rr(sd: float, mean: float, confidence: float = 1.0) -> dict:
    return {"rr_sd": {"value": sd, "unit": "ms", "confidence": confidence},
            "rr_mean": {"value": mean, "unit": "ms", "confidence": confidence}}


def _measured(key: str, value: float, unit: str = "ms", confidence: float = 1.0) -> dict:
    return {key: {"value": value, "unit": unit, "confidence": confidence}}


@pytest.mark.parametrize(("question", "answer", "measured", "says"), [
    ("Is the rhythm regular?", "yes", _rr(82, 436), "RR intervals vary by 19% (SD 82 ms, mean"),
    ("Is the rhythm irregular?", "no", _rr(82, 436), "irregular rhythm's RR intervals vary by"),
    ("Is the rhythm irregular?", "yes", _rr(15, 814), "vary by 2%"),
    ("Are the RR intervals regular?", "no", _rr(15, 814), "a regular rhythm's RR intervals"),
    ("Is the rhythm regular?", "Irregular rhythm.", _rr(15, 814), "an irregular rhythm's"),
    ("Is the heart rate fast?", "no", _measured("heart_rate", 137.5, "bpm"),
     "heart rate is 137.5 bpm (confidence 1.00), against the answer (tachycardia is a rate"),
    ("Is there tachycardia?", "yes", _measured("heart_rate", 72, "bpm"), "over 100 bpm"),
    ("Is there bradycardia?", "yes", _measured("heart_rate", 137.5, "bpm"), "under 60 bpm"),
    ("Is the heart rate slow?", "no", _measured("heart_rate", 41, "bpm"), "under 60 bpm"),
    ("Is the QRS wide?", "no", _measured("qrs_duration", 156), "120 ms or more"),
    ("Is there a narrow QRS?", "yes", _measured("qrs_duration", 156), "under 120 ms"),
    ("Is the PR interval prolonged?", "no", _measured("pr_interval", 280), "over 200 ms"),
    # a limit the question sets itself
    ("Is the heart rate above 100 bpm?", "no", _measured("heart_rate", 137.5, "bpm"),
     "against the answer (the question asks for over 100 bpm)"),
    ("Is the heart rate under 60?", "yes", _measured("heart_rate", 80, "bpm"), "under 60 bpm"),
    ("Is the QRS longer than 120 ms?", "yes", _measured("qrs_duration", 88), "over 120 ms"),
    ("Is the QTc over 470 ms?", "no", _measured("qtc_bazett", 560), "over 470 ms"),
    ("Is the pulse over 130?", "no", _measured("heart_rate", 137.5, "bpm"), None),  # within 10 %
    ("Is the heart rate over 100 and the PR over 200?", "no", _measured("heart_rate", 137.5),
     None),
    ("Is the QRS over 0.1 seconds?", "yes", _measured("qrs_duration", 88), "over 100 ms"),
    # from the review: a limit in another unit, of another subject, or not plausible
    ("Is the QRS duration more than 0.12 s?", "no", _measured("qrs_duration", 88), None),
    ("Is the QRS amplitude more than 35 mm in V5?", "no", _measured("qrs_duration", 88), None),
    ("Is the QRS axis more than 90 degrees?", "no", _measured("qrs_duration", 110), None),
    ("Is the ST elevation more than 2 mm at this heart rate?", "no",
     _measured("heart_rate", 80, "bpm"), None),
    ("Is the PR segment depressed more than 1 mm?", "no", _measured("pr_interval", 150), None),
    ("Is the heart rate over 1 hundred?", "no", _measured("heart_rate", 137.5, "bpm"), None),
    ("Is the heart rate above 100 and below 150?", "no", _measured("heart_rate", 137.5, "bpm"),
     None),
    # ... and claims across clauses, or an answer that negates itself
    ("Is the heart rate normal with high QRS voltage?", "yes", _measured("heart_rate", 80, "bpm"),
     None),
    ("Is the PR interval normal with a long QT?", "yes", _measured("pr_interval", 150), None),
    ("Is the interval between QRS complexes long?", "yes", _measured("qrs_duration", 90), None),
    ("Is the QRS-T angle wide?", "yes", _measured("qrs_duration", 90), None),
    ("Is the rate of PVCs high?", "yes", _measured("heart_rate", 80, "bpm"), None),
    ("Is there a high rate of PVCs?", "yes", _measured("heart_rate", 80, "bpm"), None),
    ("Are the P waves regular?", "yes", _rr(82, 436), None),
    ("Is the heart rate fast?", "No, there is no tachycardia.", _measured("heart_rate", 70, "bpm"),
     None),
    ("Is the patient on a high dose?", "yes", _measured("heart_rate", 80, "bpm"), None),
    # agreeing, near the limit, or not a claim about one finding
    ("Is the rhythm regular?", "yes", _rr(15, 814), None),
    ("Is the rhythm irregular?", "yes", _rr(82, 436), None),
    ("Is the rhythm regular?", "yes", _rr(74, 939), None),  # 8 %: sinus arrhythmia
    ("Is the rhythm irregular?", "yes", _rr(74, 939), None),
    ("Is the heart rate fast?", "no", _measured("heart_rate", 104, "bpm"), None),
    ("Is there bradycardia?", "yes", _measured("heart_rate", 62, "bpm"), None),
    ("Is the QRS wide?", "yes", _measured("qrs_duration", 112), None),
    ("Is the rhythm regular or irregular?", "yes", _rr(82, 436), None),
    ("Is the rhythm not regular?", "no", _rr(82, 436), None),
    ("Is there tachycardia with an irregular rhythm?", "yes", _rr(82, 436), None),  # two
    ("Is the rhythm regular?", "yes", _rr(82, 436, confidence=0.3), None),
    ("Is the rhythm regular?", "yes", {"rr_sd": {"value": None, "reason": "x"}}, None),
    ("Is the rhythm regular?", "yes", None, None),
    ("Is there slow R wave progression?", "yes", _measured("heart_rate", 137.5, "bpm"), None),
    ("What rhythm is this?", "sinus rhythm", _rr(82, 436), None),
])
def test_an_answer_a_measurement_decides_is_checked_against_it(question, answer, measured, says):
    """The shipped LM said `yes` to "Is the rhythm regular?" and to "... irregular?" of every
    fold-9 AF and sinus record asked, and `no` to "Is the heart rate fast?" at 137.5 bpm."""
    note = measured_claim_note(question, answer, measured)
    assert (note is None) if says is None else (says in note)


def test_ask_checks_answers_against_the_measurements_in_text_format(shared_data, monkeypatch):
    """The LM's answers fixed here: a text `ask` measures the record only for questions a note
    compares with a measurement, so each kind must reach the measurements ("above 100 bpm" lost
    its note when the limit was not counted as one). In AF, a PR question gets the note that no
    PR applies and not a measured PR against the answer (01111: PR 324 ms, AFIB 0.72)."""
    answers = {"Is the rhythm regular?": "yes", "Is the heart rate fast?": "no",
               "Is the heart rate above 100 bpm?": "no", "Is the PR over 200 ms?": "no",
               "What is the PR interval?": "Atrial fibrillation."}
    monkeypatch.setattr(Asker, "answer_batch", lambda self, questions, *a, **k: [
        answers[q] for q in questions])
    record = shared_data / "ptbxl" / "records100" / "00000" / "00017_lr.hea"
    result = CliRunner().invoke(cli, ["ask", str(record), *list(answers)[:3]])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["yes", "no", "no"]
    assert "note (question 1): the measured RR intervals vary by 19%" in result.stderr
    for n in (2, 3):
        assert f"note (question {n}): the measured heart rate is 137.5 bpm" in result.stderr
    af = shared_data / "ptbxl" / "records100" / "01000" / "01111_lr.hea"
    result = CliRunner().invoke(cli, ["ask", str(af), "Is the PR over 200 ms?"])
    assert result.exit_code == 0, result.stderr
    assert "a PR interval, measured or answered, does not apply" in result.stderr
    assert "against the answer" not in result.stderr
    # the value note still says why no PR was measured (it lost its reason once)
    result = CliRunner().invoke(cli, ["ask", str(record), "What is the PR interval?"])
    assert "PR interval not measured: no single P wave before each QRS" in result.stderr


def test_ask_text_prints_the_measured_rate_in_its_note():
    from ecglm_cli.cli.main import cli
    from ecglm_cli.examples import example_record_path

    result = CliRunner().invoke(
        cli, ["ask", str(example_record_path()), "What is the heart rate?"])
    assert result.exit_code == 0, result.stderr
    assert "measured from the recording: heart rate 69.9 bpm" in result.stderr
    assert "measured from the recording" not in result.stdout


def _axis(value, confidence=0.99):
    return {"qrs_axis": {"value": value, "unit": "deg", "confidence": confidence}}


def test_axis_answers_against_the_measured_axis():
    """The shipped LM said `yes` to "Is there left axis deviation?" on 218 of 242 fold-9
    records, record 1 among them at a measured +17 degrees."""
    lad = "Is there left axis deviation?"
    note = axis_note(lad, "yes", _axis(17))
    assert note and "+17°" in note and "a normal heart axis, not left axis deviation" in note
    assert axis_note(lad, "yes", _axis(-10)) is None  # PTB-XL calls most of these left
    assert axis_note(lad, "yes", _axis(-50)) is None
    assert "inside the range of left axis deviation" in axis_note(lad, "no", _axis(-60))
    assert axis_note(lad, "no", _axis(-35)) is None  # within the margin of the boundary
    which = "What is the heart axis of this ECG?"
    assert "not left axis deviation" in axis_note(which, "left axis deviation", _axis(40))
    assert axis_note(which, "normal heart axis", _axis(40)) is None
    assert "right axis deviation, not a normal heart axis" in axis_note(
        which, "normal heart axis", _axis(150))
    # nothing to compare: unmeasured, unsure, negated, not about the axis
    assert axis_note(lad, "yes", _axis(None)) is None
    assert axis_note(lad, "yes", _axis(17, confidence=0.2)) is None
    assert axis_note("Is there no left axis deviation?", "yes", _axis(17)) is None
    assert axis_note("Is this ECG normal?", "yes", _axis(-80)) is None
    assert axis_note(lad, "yes", None) is None
    # from a review: other wordings, a choice, and angles across +-180
    assert "which is extreme axis deviation, not a normal heart axis" in axis_note(
        "Is the axis normal?", "yes", _axis(-118))
    assert "inside the range of left axis deviation" in axis_note("left-axis?", "no",
                                                                  _axis(-70))
    assert axis_note("Is the axis normal or is there left axis deviation?", "yes",
                     _axis(17)) is None
    assert axis_note("Is there right axis deviation?", "yes", _axis(-170)) is None  # 10 past


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle")
    make_encoder_bundle(path)
    return add_language_model(path, "llama")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return write_record(tmp_path_factory.mktemp("records"), "r0", seed=0, leads=("II", "V5"))


def test_ask_notes_reach_json_and_stderr(bundle, record):
    base = ["ask", str(record), "Is there ST elevation in V2?", "--model", str(bundle),
            "--max-new-tokens", "4"]
    as_json = CliRunner().invoke(cli, [*base, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["leads"] == ["II", "V5"]
    assert any("names lead V2, which the model did not read" in n for n in data["notes"])
    as_text = CliRunner().invoke(cli, base)
    assert as_text.exit_code == 0
    assert "ecglm: note: " not in as_text.stdout  # stdout keeps the answer alone
    assert "ecglm: note: the question names lead V2" in as_text.stderr


def test_cut_short_note_follows_the_end_token(bundle, record):
    """An answer that stops at --max-new-tokens says so; one the model ended does not."""
    asker = Asker(bundle)
    ecg = read_record(record)
    first: list[int] = []
    asker.answer_batch(["Describe this ECG."], [asker.features(ecg)], 1, first.append)
    tokenizer = asker.lm.tokenizer
    ended = tokenizer.convert_ids_to_tokens(first[0])
    if first[0] != tokenizer.eos_token_id:
        notes = asker.ask(ecg, "Describe this ECG.", max_new_tokens=1, evidence=False).notes
        assert any("token limit" in n for n in notes)
    tokenizer.eos_token = ended  # now the first token ends the answer
    notes = asker.ask(ecg, "Describe this ECG.", max_new_tokens=1, evidence=False).notes
    assert not any("token limit" in n for n in notes)


def test_a_text_answer_about_the_axis_is_checked_against_the_measured_axis(bundle, tmp_path):
    """A text answer skips measuring, except for the axis, whose note needs the measurement.
    The LM's text is replaced here (a test double) so that it contradicts the measured axis."""
    from ecglm_cli.pipeline.ecg_features import measured_values

    ecg = read_record(write_record(tmp_path, "twelve", seed=3))
    axis = measured_values(ecg)[0]["qrs_axis"]
    if axis["value"] is None or axis["confidence"] < 0.5:
        pytest.skip("the synthetic record has no confident axis")
    low, high = AXIS_RANGES["left axis deviation"]
    inside = min(axis["value"] - low, high - axis["value"])
    if abs(inside) < AXIS_MARGIN_DEG:
        pytest.skip("the synthetic record's axis lies at a class boundary")
    contradicting = "no" if inside > 0 else "yes"
    asker = Asker(bundle)
    asker.answer_batch = lambda questions, feats, *args: [contradicting]
    answer = asker.ask(ecg, "Is there left axis deviation?", evidence=False)
    assert any(note.startswith("the measured QRS axis is") for note in answer.notes)
    assert answer.evidence == {}


def test_an_axis_asked_of_a_record_with_swapped_arm_electrodes_is_noted(bundle, tmp_path):
    """Swapped LA/RA electrodes turn the axis round, in the measurement and in what the model
    reads; the answer about the axis now says so. Other questions are not noted."""
    import wfdb

    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.signal.synthetic import synthetic_ecg

    signal = synthetic_ecg(seed=3).astype("float64")
    signal[0] = -signal[0]
    signal[[1, 2, 3, 4]] = signal[[2, 1, 4, 3]]
    wfdb.wrsamp("swapped", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                p_signal=signal.T, fmt=["16"] * 12, write_dir=str(tmp_path))
    ecg = read_record(tmp_path / "swapped.hea")
    asker = Asker(bundle)
    axis = asker.ask(ecg, "What is the heart axis?", max_new_tokens=2, evidence=False)
    assert any("arm electrodes of this recording may be swapped" in n for n in axis.notes)
    other = asker.ask(ecg, "Is this ECG normal?", max_new_tokens=2, evidence=True)
    assert not any("arm electrodes" in n for n in other.notes)
    assert "arm electrodes may be swapped" in other.evidence["measurements"]["note"]


def test_clinicians_shorthand_names_the_statement():
    """"Is there AF?" got no evidence and no note; "AFib" did."""
    from ecglm_cli.pipeline.ask import named_statements

    assert named_statements("Is there AF?") == ["AFIB"]
    assert named_statements("Is it flutter?") == ["AFLT"]
