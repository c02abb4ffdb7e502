"""Turn one PTB-XL record's labels into training text for the ECG language model.

Four products, derived from the record's labels and `features.measure` values (never from a
model):

* ECG-QA question records of the three single-ECG types over ECG-QA's attribute families,
  with ECG-QA's template ids, wordings and exact answer classes (`synthesize_qa`);
* explanatory answers and free-text reports that cite the knowledge-base criteria and the
  measured values (`explain`, `report`);
* "cannot be determined from this ECG" answers for questions an ECG cannot answer
  (`unanswerable_questions`);
* questions about the measured values (`measurement_questions`), for an LM that reads them.

An answer is only produced when the labels settle it: statements labelled with a diagnostic
likelihood below 100 make verify questions "not sure" and are never used in choose/query.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from string import Template as _Fill

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.knowledge.labels import (
    AXIS_ANSWERS,
    ES_ANY,
    ES_SUPRAVENTRICULAR,
    ES_VENTRICULAR,
    NOISE_COLUMNS,
    STAGE_EARLY,
    STAGE_MIDDLE,
    STAGE_NONE,
    STAGE_OLD,
    RecordLabels,
    record_labels,
    statement_is_certain,
)
from ecglm_cli.knowledge.statements import Statement, by_answer_name, load_statements
from ecglm_cli.knowledge.templates import Template, load_templates

NONE = "none"
CANNOT_DETERMINE = "cannot be determined from this ECG"
VERIFY = "Does this ECG show symptoms of {}?"  # ECG-QA template 1; LM detection asks it too
NOISE_KINDS: tuple[str, ...] = tuple(NOISE_COLUMNS)
AXIS_VALUES: tuple[str, ...] = tuple(sorted(set(AXIS_ANSWERS.values())))
STAGE_VALUES: tuple[str, ...] = (STAGE_EARLY, STAGE_MIDDLE, STAGE_OLD)
EXTRA_VALUES: tuple[str, ...] = (ES_ANY, ES_SUPRAVENTRICULAR, ES_VENTRICULAR)
LEAD_ANSWERS: tuple[str, ...] = tuple(f"lead {lead}" for lead in STANDARD_LEADS)
_LEAD_IN_QUESTION = re.compile(r"\blead (I{1,3}|aV[RLF]|V[1-6])\b")


def lead_of(question: str) -> str | None:
    """The lead an ECG-QA question names (``"... in lead aVL?"`` -> ``"aVL"``)."""
    match = _LEAD_IN_QUESTION.search(question)
    return match.group(1) if match else None


def attribute_domain(template: Template) -> tuple[str, ...]:
    """Values the template's ``${attribute}`` placeholders range over."""
    kind = template.kind
    if kind.startswith("scp_"):
        return tuple(a for a in template.answers if a not in (NONE, "yes", "no", "not sure")) or (
            tuple(s.ecgqa_name for s in load_statements().values() if s.ecgqa_name)
        )
    if kind.startswith("axis"):
        return AXIS_VALUES
    if kind.startswith("stage"):
        return STAGE_VALUES
    if kind.startswith("noise"):
        return NOISE_KINDS
    if kind.startswith("extra"):
        return EXTRA_VALUES
    return ()


def _pick(options: list[str] | tuple[str, ...], present: set[str]) -> list[str]:
    chosen = sorted(o for o in options if o in present)
    return chosen or [NONE]


def _yes(flag: bool) -> list[str]:
    return ["yes" if flag else "no"]


def answer_for(
    template: Template, labels: RecordLabels, attributes: list[str], lead: str | None = None
) -> list[str] | None:
    """ECG-QA's answer to ``template`` filled with ``attributes``/``lead`` for this record.

    None when the labels do not settle the answer (uncertain statements, unknown axis).
    """
    kind = template.kind
    family = kind.split(":", 1)[1] if ":" in kind else ""
    if kind == "scp_verify":
        statement = by_answer_name().get(attributes[0])
        return statement_answer(labels, statement.code) if statement else ["no"]
    if kind.startswith("scp_choose") or kind.startswith("scp_query"):
        vocabulary = attribute_domain(template)
        options = attributes if kind.startswith("scp_choose") else list(vocabulary)
        if any(o in labels.uncertain for o in options):
            return None
        return _pick(options, labels.present[family])
    if kind == "superclass_query":
        return None if labels.codes_uncertain else _pick(
            [a for a in template.answers if a != NONE], labels.superclasses
        )
    if kind.startswith("axis"):
        if labels.axis is None:
            return None
        if kind == "axis_verify":
            return _yes(labels.axis == attributes[0])
        return _pick(attributes if kind == "axis_choose" else AXIS_VALUES, {labels.axis})
    if kind == "stage_verify":
        return _yes(attributes[0] in labels.stages)
    if kind == "stage_choose":
        return _pick(attributes, labels.stages)
    if kind == "stage_query":
        return sorted(labels.stages) or [STAGE_NONE]
    noise_here = labels.noise_in_lead(lead) if lead else set(labels.noise_present)
    if kind in ("noise_lead_verify", "noise_verify"):
        return _yes(attributes[0] in noise_here)
    if kind in ("noise_any_lead_verify", "noise_any_verify"):
        return _yes(bool(noise_here))
    if kind in ("noise_choose", "noise_lead_choose"):
        return _pick(attributes, noise_here)
    if kind in ("noise_query", "noise_lead_query"):
        return _pick(NOISE_KINDS, noise_here)
    if kind == "noise_leads_query":
        kind_name = attributes[0]
        if kind_name in labels.noise_present and not labels.noise[kind_name]:
            return None
        leads = labels.noise.get(kind_name, frozenset())
        return [f"lead {lead}" for lead in STANDARD_LEADS if lead in leads] or [NONE]
    if kind == "extra_any_verify":
        return _yes(bool(labels.extra))
    if kind == "extra_verify":
        return _yes(attributes[0] in labels.extra)
    if kind in ("extra_choose", "extra_query"):
        return _pick(attributes if kind == "extra_choose" else EXTRA_VALUES, labels.extra)
    raise ValueError(f"template {template.template_id}: unknown kind {kind!r}")


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", text))


def fill(wording: str, attributes: list[str], lead: str | None) -> str:
    """Fill ``${attribute}``, ``${attribute1}``, ``${attribute2}`` and ``${lead}``."""
    values = {"lead": f"lead {lead}" if lead else ""}
    if attributes:
        values["attribute"] = attributes[0]
        for i, value in enumerate(attributes, start=1):
            values[f"attribute{i}"] = value
    return _Fill(wording).safe_substitute(values)


# Other ways the same question gets typed. The templates' wordings are capitalised, end in "?"
# and say "this ECG"; typed lowercase without "?", fold-9 query questions fell from 0.750 to
# 0.541. "this electrocardiogram" is left out on purpose: it stays the held-out rewording that
# docs/model-card.md measures how far the LM generalises with.
SUBJECTS = ("the ECG", "this recording", "this tracing", "the tracing", "this 12-lead ECG",
            "this ECG recording")
REWORD_P = {"subject": 0.3, "lowercase": 0.15, "no_question_mark": 0.15}


def reword(question: str, rng: random.Random) -> str:
    """`question` as someone else might type it: another name for the ECG, lowercase, or
    without its question mark, each now and then (training text only)."""
    if "this ECG" in question and rng.random() < REWORD_P["subject"]:
        question = question.replace("this ECG", rng.choice(SUBJECTS))
    if rng.random() < REWORD_P["lowercase"]:
        question = question.lower()
    if rng.random() < REWORD_P["no_question_mark"]:
        question = question.rstrip().removesuffix("?").rstrip()
    return question


def _positives(template: Template, labels: RecordLabels, lead: str | None) -> set[str]:
    kind = template.kind
    if kind.startswith("scp_"):
        return set().union(*labels.present.values()) | labels.uncertain
    if kind.startswith("axis"):
        return {labels.axis} if labels.axis else set()
    if kind.startswith("stage"):
        return set(labels.stages)
    if kind.startswith("noise"):
        return labels.noise_in_lead(lead) if lead else set(labels.noise_present)
    if kind.startswith("extra"):
        return set(labels.extra)
    return set()


def _choose_attributes(
    template: Template, labels: RecordLabels, lead: str | None, rng: random.Random
) -> list[str]:
    """Attributes for one question, mixing present and absent findings about evenly."""
    needed = len(_placeholders(template.template) - {"lead"})
    if needed == 0:
        return []
    domain = list(attribute_domain(template))
    positives = [d for d in domain if d in _positives(template, labels, lead)]
    chosen: list[str] = []
    if positives and rng.random() < 0.5:
        chosen.append(rng.choice(positives))
    while len(chosen) < needed:
        candidates = [d for d in domain if d not in chosen]
        if not candidates:
            break
        chosen.append(rng.choice(candidates))
    rng.shuffle(chosen)
    return chosen


def question_id(template_id: int, canonical_question: str) -> int:
    """Stable id shared by all wordings of one filled template question (as in ECG-QA)."""
    return zlib.crc32(f"{template_id}|{canonical_question}".encode()) & 0x7FFFFFFF


def make_question(
    template: Template,
    labels: RecordLabels,
    rng: random.Random,
    sample_id: int = 0,
) -> dict | None:
    """One ECG-QA record for this template and record, or None when it cannot be answered."""
    lead = rng.choice(STANDARD_LEADS) if "lead" in _placeholders(template.template) else None
    attributes = _choose_attributes(template, labels, lead, rng)
    answer = answer_for(template, labels, attributes, lead)
    if answer is None:
        return None
    canonical = fill(template.template, attributes, lead)
    wording = rng.choice(template.wordings)
    fixed_attribute = _placeholders(template.template) <= {"lead"}
    return {
        "template_id": template.template_id,
        "question_id": question_id(template.template_id, canonical),
        "sample_id": sample_id,
        "question_type": template.question_type,
        "attribute_type": template.attribute_type,
        "question": fill(wording, attributes, lead),
        "answer": answer,
        "ecg_id": [labels.ecg_id],
        "attribute": _record_attribute(template, attributes, fixed_attribute),
    }


def _record_attribute(template: Template, attributes: list[str], fixed: bool) -> list[str]:
    """ECG-QA's ``attribute`` field: the asked-about values, or the template's whole domain."""
    if not fixed:
        return list(attributes)
    if template.kind in ("noise_any_lead_verify", "noise_any_verify"):
        return ["any kind of noises"]
    if template.kind == "extra_any_verify":
        return ["any kind of extra systoles"]
    return [a for a in template.answers if a not in (NONE, "yes", "no", "not sure")]


def synthesize_qa(
    row: dict,
    *,
    templates: dict[int, Template] | None = None,
    rng: random.Random | None = None,
    per_template: int = 1,
    sample_start: int = 0,
    measurements: dict | None = None,
) -> list[dict]:
    """ECG-QA question records (valid ECG-QA JSON) for one PTB-XL row.

    ``per_template`` questions are drawn for every template whose answer the labels settle; the
    measured axis in ``measurements`` (`features.measure`) decides the heart-axis answers of a
    record whose ``heart_axis`` column is empty.
    """
    templates = templates or load_templates()
    rng = rng or random.Random(int(row["ecg_id"]))
    axis = (measurements or {}).get("qrs_axis") or {}
    labels = record_labels(row, measured_axis=axis.get("value") if isinstance(axis, dict) else None)
    out: list[dict] = []
    for template_id in sorted(templates):
        for _ in range(per_template):
            record = make_question(templates[template_id], labels, rng, sample_start + len(out))
            if record is not None:
                out.append(record)
    return out


# --- verify questions about the statements ECG-QA never names -------------------------------

UNNAMED_WORDINGS: tuple[str, ...] = (
    VERIFY, "Does this ECG show {}?", "Is there {} on this ECG?", "Do you see {} on this tracing?",
)
PLAIN_WORDINGS: dict[str, tuple[str, ...]] = {  # instead of the generic ones, where they read badly
    "NORM": (VERIFY, "Is this ECG normal?", "Is this a normal ECG?", "Does this ECG look normal?"),
}
UNNAMED_NEGATIVES = 2
# Asked of every record: NORM is the commonest statement (about 44% of PTB-XL) and "is this ECG
# normal?" the commonest plain question. Asked of a non-NORM record only when drawn among the
# negatives, it was "yes" in 5 of every 6 examples, and a small run said "normal" to 20 of 68
# abnormal fold-9 records.
ALWAYS_ASKED: tuple[str, ...] = ("NORM",)


def statement_answer(labels: RecordLabels, code: str) -> list[str]:
    """Verify answer for one SCP code: "not sure" for an uncertain diagnostic label."""
    if code in labels.codes_uncertain:
        return ["not sure"]
    return _yes(code in labels.codes_present)


def unnamed_statement_questions(
    row: dict, rng: random.Random, negatives: int = UNNAMED_NEGATIVES
) -> list[dict]:
    """Verify questions about the statements that ECG-QA's templates never name (NORM, WPW, ...).

    Without them the LM never learns a yes or no for these, yet `classify --via lm` asks about
    every statement. Each one the record has (or may have) is asked, `ALWAYS_ASKED` ones in
    any case, and `negatives` others it lacks.
    Records are ECG-QA-shaped (`question`, `answer`, `question_type`, `attribute`).
    """
    labels = record_labels(row)
    unnamed = sorted(code for code, s in labels.statements.items() if not s.ecgqa_name)
    labelled = labels.codes_present | labels.codes_uncertain
    asked = [code for code in unnamed if code in labelled or code in ALWAYS_ASKED]
    absent = [code for code in unnamed if code not in asked]
    asked += rng.sample(absent, k=min(negatives, len(absent)))
    out = []
    for code in asked:
        name = labels.statements[code].name
        wording = rng.choice(PLAIN_WORDINGS.get(code, UNNAMED_WORDINGS))
        out.append({"question": wording.format(name), "answer": statement_answer(labels, code),
                    "question_type": "single-verify", "attribute": [name]})
    return out


# --- explanatory answers and reports ---------------------------------------------------------

def _criteria_sentence(statement: Statement) -> str:
    return f"{statement.name[0].upper()}{statement.name[1:]}: {statement.criteria}"


def measured_number(measurements: dict | None, key: str) -> float | None:
    """One `features.measure` value as a number; None when missing or not a number."""
    entry = (measurements or {}).get(key)
    if not isinstance(entry, dict) or entry.get("value") is None:
        return None
    try:
        number = float(entry["value"])
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None  # NaN read "nan bpm"


def value_text(measurements: dict | None, key: str) -> str | None:
    """One measured value as the texts write it (``"72 bpm"``, ``"66°"``); None when missing."""
    number = measured_number(measurements, key)
    if number is None:
        return None
    unit = measurements[key].get("unit") or ""
    text = f"{number:.0f}"
    if unit in ("deg", "degrees", "°"):
        return f"{text}°"
    return f"{text} {unit}".strip()


# `features.measure` keys cited in texts, with the short names the texts use.
CITED_MEASUREMENTS: tuple[tuple[str, str], ...] = (
    ("pr_interval", "PR"), ("qrs_duration", "QRS"), ("qt_interval", "QT"),
    ("qtc_bazett", "QTc"), ("qrs_axis", "axis"),
)


def measurement_sentence(measurements: dict | None) -> str:
    """``"Heart rate 72 bpm. PR 160 ms, QRS 90 ms, QT 380 ms, QTc 410 ms, axis 45°."``

    ``measurements`` is the dict `features.measure` returns.
    """
    parts = []
    for key, label in CITED_MEASUREMENTS:
        value = value_text(measurements, key)
        if value:
            parts.append(f"{label} {value}")
    rate = value_text(measurements, "heart_rate")
    text = f"Heart rate {rate}. " if rate else ""
    return (text + (", ".join(parts) + "." if parts else "")).strip()


def measured_context(measurements: dict | None) -> str:
    """The line an LM trained with measured values reads before the question."""
    return f"Measured: {measurement_sentence(measurements) or 'nothing (no beats found).'}"


# --- questions about the measured values ----------------------------------------------------
# Adult resting limits (AHA/ACCF/HRS 2009 standardization series; the rate limits are the ones
# PTB-XL's SBRAD/STACH statements use). None: no limit on that side.
# The QRS limit is 110 ms, where the statements' own criteria start a conduction delay (IVCD,
# incomplete bundle branch block): at 120 ms, QRS durations of complete bundle branch block were
# answered "within the normal range". The QTc limit, 460 ms, is the guideline's for women (450
# for men): the LM is not told the sex.
NORMAL_RANGES: dict[str, tuple[float | None, float | None]] = {
    "heart_rate": (60, 100), "rr_mean": (600, 1000), "pr_interval": (120, 200),
    "qrs_duration": (None, 110), "qtc_bazett": (350, 460),
}  # the uncorrected QT has no rate-independent range
# How questions name each value, and ECG-QA's numeric-feature answer names (template 42).
MEASURED_NAMES: dict[str, tuple[str, str]] = {
    "heart_rate": ("heart rate", "heart rate"), "rr_mean": ("RR interval", "rr interval"),
    "pr_interval": ("PR interval", "pr interval"), "qrs_duration": ("QRS duration", "qrs duration"),
    "qt_interval": ("QT interval", "qt interval"), "qtc_bazett": ("corrected QT interval",
                                                                   "qt corrected"),
    "qrs_axis": ("QRS axis", "qrs axis"),
}
RANGE_ANSWERS = ("below the normal range", "within the normal range", "above the normal range")
VALUE_WORDINGS = ("What is the {} of this ECG?", "What is the {}?", "How much is the {} here?")
RANGE_WORDINGS = ("Is the {} of this ECG within the normal range?",
                  "Is the {} normal, above or below the normal range?",
                  "How does the {} of this ECG compare with the normal range?")
ABNORMAL_WORDINGS = ("Which measured values of this ECG are outside the normal range?",
                     "What numeric features of this ECG are abnormal?")


def measured_range(key: str, measurements: dict | None) -> str | None:
    """``"above the normal range"`` etc. for one measured value; None when it is missing."""
    value = measured_number(measurements, key)
    if key not in NORMAL_RANGES or value is None:
        return None
    value = round(value)  # as `value_text` writes it: 59.6 bpm read "60 bpm", below the range
    low, high = NORMAL_RANGES[key]
    if low is not None and value < low:
        return RANGE_ANSWERS[0]
    if high is not None and value > high:
        return RANGE_ANSWERS[2]
    return RANGE_ANSWERS[1]


def measurement_questions(measurements: dict | None, rng: random.Random) -> list[dict]:
    """Questions about the measured values, answered from them (the LM reads them in its prompt).

    One value question, one range question and, for half the records, the list of values
    outside their normal range. Records are ECG-QA-shaped with ``question_type`` "measurement".
    """
    present = [k for k in MEASURED_NAMES if value_text(measurements, k)]
    if not present:
        return []
    out = []
    key = rng.choice(present)
    name = MEASURED_NAMES[key][0]
    out.append({"question": rng.choice(VALUE_WORDINGS).format(name),
                "answer": [value_text(measurements, key)], "question_type": "measurement",
                "attribute": [MEASURED_NAMES[key][1]]})
    ranged = [k for k in present if k in NORMAL_RANGES]
    if ranged:
        key = rng.choice(ranged)
        out.append({"question": rng.choice(RANGE_WORDINGS).format(MEASURED_NAMES[key][0]),
                    "answer": [measured_range(key, measurements)],
                    "question_type": "measurement", "attribute": [MEASURED_NAMES[key][1]]})
    if ranged and rng.random() < 0.5:
        outside = sorted(MEASURED_NAMES[k][1] for k in ranged
                         if measured_range(k, measurements) != RANGE_ANSWERS[1])
        out.append({"question": rng.choice(ABNORMAL_WORDINGS), "answer": outside or [NONE],
                    "question_type": "measurement", "attribute": None})
    return out


def explain(record: dict, measurements: dict | None = None) -> str:
    """Explanatory answer: the exact ECG-QA answer first, then the criteria behind it."""
    answer = record["answer"]
    lead_text = "; ".join(answer) + "."
    named = by_answer_name()
    cited = [named[a] for a in answer if a in named]
    if record["question_type"] == "single-verify" and record.get("attribute"):
        asked = [named[a] for a in record["attribute"] if a in named]
        if answer == ["yes"]:
            cited = asked
        elif answer == ["no"]:
            what = ", ".join(record["attribute"])
            return f"{lead_text} The labels of this ECG do not include {what}."
        elif answer == ["not sure"]:
            what = ", ".join(record["attribute"])
            return f"{lead_text} {what} is only possibly present on this ECG (uncertain label)."
    sentences = [lead_text]
    sentences += [_criteria_sentence(s) for s in cited]
    numbers = measurement_sentence(measurements)
    if cited and numbers:
        sentences.append(f"Measured: {numbers}")
    return " ".join(sentences)


def report(row: dict, measurements: dict | None = None) -> str:
    """A short free-text description of the ECG from its labels, criteria and measurements."""
    labels = record_labels(row)
    statements = labels.statements or load_statements()
    rhythms = [statements[c] for c in labels.codes if c in statements
               and statements[c].category.get("rhythm")]
    rate = value_text(measurements, "heart_rate")
    if rhythms:
        rhythm_text = " and ".join(s.name for s in rhythms)
        opening = f"{rhythm_text[0].upper()}{rhythm_text[1:]}" + (f" at {rate}." if rate else ".")
    else:
        opening = f"Heart rate {rate}." if rate else ""
    sentences = [opening] if opening else []
    numbers = [p for p in measurement_sentence({k: v for k, v in (measurements or {}).items()
                                                if k != "heart_rate"}).split(". ") if p]
    sentences += [n if n.endswith(".") else n + "." for n in numbers]
    if labels.axis:  # the label, beside any measured axis the sentence above cites
        sentences.append(f"Heart axis: {labels.axis}.")
    for code, likelihood in sorted(labels.codes.items(), key=lambda kv: -kv[1]):
        statement = statements.get(code)
        if statement is None or statement.category.get("rhythm"):
            continue
        if not statement_is_certain(statement, likelihood):
            sentences.append(f"Possible {statement.name} (likelihood {likelihood:.0f}%).")
        else:
            sentences.append(_criteria_sentence(statement))
    if labels.stages:
        sentences.append("Infarction stage: " + ", ".join(sorted(labels.stages)) + ".")
    if labels.extra:
        sentences.append("Extra beats: " + ", ".join(sorted(labels.extra)) + ".")
    if labels.pacemaker and "PACE" not in labels.codes:
        sentences.append("A pacemaker is noted for this recording.")
    for kind in NOISE_KINDS:
        if kind in labels.noise_present:
            leads = labels.noise[kind]
            where = (" in all leads" if len(leads) == len(STANDARD_LEADS)
                     else f" in {', '.join(lead for lead in STANDARD_LEADS if lead in leads)}"
                     if leads else "")
            sentences.append(f"Signal quality: {kind}{where}.")
    return " ".join(sentences)


REPORT_PROMPTS: tuple[str, ...] = (
    "Describe this ECG.",
    "Write a short report for this ECG.",
    "What does this ECG show?",
    "Interpret this ECG.",
    "Summarise the findings of this ECG.",
)

# Questions no ECG can answer, each with why. Answers always start with CANNOT_DETERMINE.
UNANSWERABLE: tuple[tuple[str, str], ...] = (
    ("What is the patient's blood sugar level?", "blood glucose is a laboratory value"),
    ("What is this patient's cholesterol?", "cholesterol is measured in a blood test"),
    ("What is the patient's name?", "an ECG signal carries no identity"),
    ("How old is this patient exactly?", "age cannot be read from the waveform"),
    ("What will the weather be tomorrow?", "the weather has nothing to do with an ECG"),
    ("What is the patient's blood pressure?", "blood pressure needs a cuff or an arterial line"),
    ("What is the patient's oxygen saturation?", "oxygen saturation needs pulse oximetry"),
    ("Does this patient have diabetes?", "diabetes is diagnosed from blood tests"),
    ("What is the patient's body temperature?", "temperature is not recorded by an ECG"),
    ("What medication is the patient taking?", "the medication list is not part of the signal"),
    ("What is the patient's ejection fraction?", "ejection fraction needs cardiac imaging"),
    ("Is there a tumour in the patient's lungs?", "lung tumours need imaging"),
    ("What is the patient's potassium level in mmol/l?",
     "an ECG can hint at potassium changes but cannot measure the level"),
    ("What is the patient's height?", "height is not recorded in the waveform"),
    ("What did the patient eat for breakfast?", "diet is not visible on an ECG"),
    ("Which hospital recorded this ECG?", "the signal does not identify the hospital"),
    ("What is the patient's telephone number?", "an ECG carries no contact details"),
    ("Will this patient have a heart attack next year?",
     "an ECG describes the present tracing, not future events"),
    ("What is the troponin level?", "troponin is a blood test"),
    ("What is the patient's haemoglobin?", "haemoglobin is a blood test"),
    ("Does the patient have a broken leg?", "bone injuries are not shown by an ECG"),
    ("What is the stock market doing today?", "that is unrelated to the ECG"),
    ("How many children does the patient have?", "family history is not in the signal"),
    ("What is the patient's kidney function?", "kidney function is measured in blood tests"),
)


def unanswerable_questions(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` (question, answer_text) pairs that must be declined, drawn without repeats."""
    picks = rng.sample(UNANSWERABLE, k=min(count, len(UNANSWERABLE)))
    return [(q, f"{CANNOT_DETERMINE[0].upper()}{CANNOT_DETERMINE[1:]}: {why}.") for q, why in picks]
