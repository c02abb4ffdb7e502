"""Interpret one PTB-XL row as ECG-QA attributes: which answers hold for this record.

PTB-XL stores noise, extra beats and infarction stage as terse German free text
(``" , I-AVR,  "``, ``"alles"``, ``"2SVES"``, ``"Stadium II-III"``). This module is the one
place that turns that text into ECG-QA's answer vocabulary, so that the synthesizer, the
dataset builder and the tests all agree. The mapping for noise was checked against the official
ECG-QA answers for the shared records (see tests/test_knowledge_agreement.py, docs/knowledge.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ecglm_cli.data.ptbxl import CLASS_NAMES
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.knowledge.statements import Statement, load_statements

NOISE_COLUMNS: dict[str, str] = {
    "baseline drift": "baseline_drift",
    "static noise": "static_noise",
    "burst noise": "burst_noise",
    "electrodes problems": "electrodes_problems",
}
ALL_LEADS_WORDS = ("alles", "alle", "all")
_LEAD_INDEX = {lead.lower(): i for i, lead in enumerate(STANDARD_LEADS)}

AXIS_ANSWERS: dict[str, str] = {
    "MID": "normal heart axis",
    "LAD": "left axis deviation",
    "ALAD": "left axis deviation",
    "AXL": "left axis deviation",
    "RAD": "right axis deviation",
    "ARAD": "right axis deviation",
    "AXR": "right axis deviation",
    "SAD": "extreme axis deviation",
}
STAGE_EARLY = "early stage of myocardial infarction"
STAGE_MIDDLE = "middle stage of myocardial infarction"
STAGE_OLD = "old stage of myocardial infarction"
STAGE_UNKNOWN = "unknown stage of myocardial infarction"
STAGE_NONE = "none of myocardial infarction"
_STAGE_NUMERALS = {"I": STAGE_EARLY, "II": STAGE_MIDDLE, "III": STAGE_OLD}

ES_ANY = "extrasystoles"
ES_VENTRICULAR = "ventricular extrasystoles"
ES_SUPRAVENTRICULAR = "supraventricular extrasystoles"

# ECG-QA's superclass answers are PTB-XL's class names in lower case
SUPERCLASS_ANSWERS: dict[str, str] = {
    code: CLASS_NAMES[code].lower() for code in ("CD", "HYP", "MI", "STTC")
}
FAMILIES: tuple[str, ...] = ("diagnostic", "form", "rhythm")


def parse_leads(text: str) -> frozenset[str]:
    """Leads named in a PTB-XL note: ``" , I-AVR,  "`` -> I, II, III, aVR; ``"alles"`` -> all.

    Ranges follow the standard order (I II III aVR aVL aVF V1..V6); a bare number 1-6 is a
    precordial lead (``"V2,3"``, ``"v5-6"``, ``" , 2"``), since limb leads are written in Roman
    numerals. Words without lead names (``"leicht"``, ``"mittel"``) name no lead.
    """
    lowered = text.lower().replace("?", " ").replace(".", ",")
    words = re.split(r"[\s,;]+", lowered)
    if any(word in ALL_LEADS_WORDS for word in words):
        return frozenset(STANDARD_LEADS)
    found: set[str] = set()
    for word in words:
        if not word:
            continue
        parts = word.split("-")
        ends: list[int] = []
        for part in parts:
            key = f"v{part}" if part.isdigit() else part
            if key in _LEAD_INDEX:
                ends.append(_LEAD_INDEX[key])
        if len(ends) == 1:
            found.add(STANDARD_LEADS[ends[0]])
        elif len(ends) >= 2:
            low, high = min(ends[0], ends[-1]), max(ends[0], ends[-1])
            found.update(STANDARD_LEADS[low : high + 1])
    return frozenset(found)


def axis_class(degrees: float) -> str:
    """Frontal QRS axis in degrees -> ECG-QA class (normal -30..+90, LAD to -90, RAD to +180)."""
    angle = (float(degrees) + 180.0) % 360.0 - 180.0  # to [-180, 180)
    if -30.0 <= angle <= 90.0:
        return "normal heart axis"
    if -90.0 <= angle < -30.0:
        return "left axis deviation"
    if 90.0 < angle <= 180.0 or angle == -180.0:
        return "right axis deviation"
    return "extreme axis deviation"


def infarction_stages(row: dict) -> set[str]:
    """Stage answers from infarction_stadium1/2 (``"Stadium II-III"`` -> middle and old)."""
    stages: set[str] = set()
    for column in ("infarction_stadium1", "infarction_stadium2"):
        text = (row.get(column) or "").strip()
        if not text:
            continue
        if text.lower() == "unknown":
            stages.add(STAGE_UNKNOWN)
            continue
        match = re.fullmatch(r"stadium\s+(I{1,3})(?:\s*-\s*(I{1,3}))?", text, flags=re.I)
        if not match:
            stages.add(STAGE_UNKNOWN)
            continue
        first, last = len(match.group(1)), len(match.group(2) or match.group(1))
        for n in range(min(first, last), max(first, last) + 1):
            stages.add(_STAGE_NUMERALS["I" * n])
    return stages


def extra_systoles(text: str) -> set[str]:
    """``"1ES"`` -> extrasystoles, ``"VES"`` -> ventricular, ``"SVES"`` -> supraventricular."""
    found: set[str] = set()
    for token in re.findall(r"\d*\s*(SVES|VES|ES)", (text or "").upper()):
        found.add({"SVES": ES_SUPRAVENTRICULAR, "VES": ES_VENTRICULAR, "ES": ES_ANY}[token])
    return found


@dataclass(frozen=True)
class RecordLabels:
    """ECG-QA-vocabulary facts about one record; ``uncertain`` statements are never asserted."""

    ecg_id: int
    present: dict[str, set[str]]  # family -> ECG-QA statement names present
    uncertain: set[str]  # ECG-QA names labelled with 0 < likelihood < 100 (diagnostic)
    codes: dict[str, float]  # raw SCP codes with likelihoods
    superclasses: set[str]
    noise: dict[str, frozenset[str]]  # noise kind -> leads ({} when absent)
    noise_present: set[str]
    axis: str | None
    stages: set[str]
    extra: set[str]
    pacemaker: bool
    statements: dict[str, Statement] = field(repr=False, default_factory=dict)

    @property
    def codes_present(self) -> set[str]:
        """SCP codes the labels assert (`statement_is_certain`)."""
        return {code for code, certain in self._certainty().items() if certain}

    @property
    def codes_uncertain(self) -> set[str]:
        """Diagnostic SCP codes labelled with a likelihood below 100."""
        return {code for code, certain in self._certainty().items() if not certain}

    def _certainty(self) -> dict[str, bool]:
        statements = self.statements or load_statements()
        return {code: statement_is_certain(statements[code], likelihood)
                for code, likelihood in self.codes.items() if code in statements}

    def noise_in_lead(self, lead: str) -> set[str]:
        return {kind for kind, leads in self.noise.items() if lead in leads}


def statement_is_certain(statement: Statement, likelihood: float) -> bool:
    """Diagnostic statements carry a likelihood (15..100); only 100 counts as certain.

    Likelihood 0 means "not given" and counts as present, as ECG-QA counts it: form and rhythm
    statements are coded so, and so is NST_, which is diagnostic and form at once. Taken as
    uncertain, all 33 NST_ records of folds 1-9 were reported "Possible non-specific ST changes
    (likelihood 0%)" and their NST_ questions answered "not sure".
    """
    if statement.category.get("diagnostic"):
        return likelihood >= 100.0 or likelihood == 0.0
    return True


def record_labels(
    row: dict, statements: dict[str, Statement] | None = None, measured_axis: float | None = None
) -> RecordLabels:
    """Everything the synthesizer needs to answer ECG-QA single-ECG questions for this row.

    ``measured_axis`` (degrees), when given, decides the heart-axis class where PTB-XL's
    ``heart_axis`` column is empty (most records). ECG-QA computed its own axis from lead II,
    so neither is its exact source; the column is what the LM was first trained on.
    """
    statements = statements or load_statements()
    present: dict[str, set[str]] = {family: set() for family in FAMILIES}
    uncertain: set[str] = set()
    superclasses: set[str] = set()
    for code, likelihood in row["scp_codes"].items():
        statement = statements.get(code)
        if statement is None:
            continue
        certain = statement_is_certain(statement, likelihood)
        if certain and statement.category.get("diagnostic_class") in SUPERCLASS_ANSWERS:
            superclasses.add(SUPERCLASS_ANSWERS[statement.category["diagnostic_class"]])
        if statement.ecgqa_name is None:
            continue
        if not certain:
            uncertain.add(statement.ecgqa_name)
            continue
        for family in FAMILIES:
            if statement.category.get(family):
                present[family].add(statement.ecgqa_name)
    noise: dict[str, frozenset[str]] = {}
    noise_present: set[str] = set()
    for kind, column in NOISE_COLUMNS.items():
        text = (row.get(column) or "").strip()
        if text:
            noise_present.add(kind)
            noise[kind] = parse_leads(text)
    axis_code = (row.get("heart_axis") or "").strip().upper()
    return RecordLabels(
        ecg_id=int(row["ecg_id"]),
        present=present,
        uncertain=uncertain,
        codes=dict(row["scp_codes"]),
        superclasses=superclasses,
        noise=noise,
        noise_present=noise_present,
        axis=AXIS_ANSWERS.get(axis_code) or (
            axis_class(measured_axis) if measured_axis is not None else None),
        stages=infarction_stages(row),
        extra=extra_systoles(row.get("extra_beats") or ""),
        pacemaker=bool((row.get("pacemaker") or "").strip()),
        statements=statements,
    )
