"""Notes that qualify an answer where the recording or the classifier does not back it up.

The answer stays the language model's own text. The compact LM is not told which leads a
recording has, its yes/no can disagree with the classifier heads it reads or its axis with the
measured one, it may be asked for values it never read, and a long answer stops at the token
limit: these notes say so instead of leaving the reader to find out.
"""

from __future__ import annotations

import re

from ecglm_cli.io.leads import LIMB_LEADS, STANDARD_LEADS, canonical_lead
from ecglm_cli.knowledge.labels import axis_class

_LEAD = r"(?:I{1,3}|aV[RLF]|V[1-6])"
# "lead II", "leads II, III and aVF": roman numerals count only after the word "lead(s)"
_LEAD_LIST = re.compile(
    rf"\bleads?(?:\s+|\s*[,:]\s*)({_LEAD}(?:\s*(?:,|and|or|&|/)\s*{_LEAD})*)(?![\w-])",
    re.IGNORECASE)
# "V2", "aVF" anywhere: no English word is spelt like them
_LEAD_NAMED = re.compile(r"(?<![\w-])(aV[RLF]|V[1-6])(?![\w-])", re.IGNORECASE)
_NEGATION = re.compile(r"\b(no|not|none|without|absen\w*|ruled?|exclude[sd]?)\b|n't\b",
                       re.IGNORECASE)
_AXIS = re.compile(r"\baxis\b", re.IGNORECASE)
_ASKS_VALUE = re.compile(r"\b(what|how (much|long|fast|wide|slow)|value)\b", re.IGNORECASE)
_MEASURED = re.compile(r"\b(heart ?rate|rate|bpm|pr|qrs (duration|width)|qtc?|corrected qt|rr)\b",
                       re.IGNORECASE)
# ECG-QA's axis classes and their ranges in degrees, as `knowledge.labels.axis_class` draws them
AXIS_RANGES: dict[str, tuple[float, float]] = {
    "normal heart axis": (-30.0, 90.0),
    "left axis deviation": (-90.0, -30.0),
    "right axis deviation": (90.0, 180.0),
}
# PTB-XL labels the axis "left" in 74 of the 79 records (folds 1-9) measured at -30..0 degrees,
# where the guideline class is normal: only a measured axis this far past a class boundary
# contradicts an answer
AXIS_MARGIN_DEG = 30.0
_AXIS_CLASS = re.compile(r"\b(left axis deviation|right axis deviation|normal (?:heart )?axis)\b",
                         re.IGNORECASE)
_LIKELIHOOD = re.compile(r"\blikelihood \d+ ?%")


def named_leads(text: str) -> list[str]:
    """Standard leads that `text` names ("V2", "aVF", "lead III", "leads II, III and aVF")."""
    parts = [m.group(1) for m in _LEAD_NAMED.finditer(text)]
    for listed in _LEAD_LIST.finditer(text):
        parts += re.findall(_LEAD, listed.group(1), re.IGNORECASE)
    return [lead for lead in STANDARD_LEADS if lead in {canonical_lead(p)[0] for p in parts}]


def lead_notes(question: str, leads_read: list[str]) -> list[str]:
    """The question asks about leads, or the axis, that the model did not read."""
    read = ", ".join(leads_read)
    notes = []
    missing = [lead for lead in named_leads(question) if lead not in leads_read]
    if missing:
        them = "them" if len(missing) > 1 else "it"
        notes.append(f"the question names {', '.join(missing)}, which the model did not read "
                     f"(leads read: {read}); the answer cannot rest on {them}")
    if asks_about_axis(question) and sum(lead in leads_read for lead in LIMB_LEADS) < 2:
        notes.append("the heart axis needs at least two limb leads, and the model read "
                     f"{'only ' + read if read else 'none'}")
    return notes


def disagreement_note(question: str, answer: str, statements: list[str],
                      probabilities: dict[str, float],
                      thresholds: dict[str, float]) -> str | None:
    """A yes/no about one statement that the classifier, at its decision threshold, contradicts.

    Only plain questions: one statement named, no negation ("Is there no AF?" inverts "yes").
    """
    reply = answer.strip().lower().rstrip(".!")
    if reply not in ("yes", "no") or len(statements) != 1 or _NEGATION.search(question):
        return None
    code = statements[0]
    if code not in probabilities or code not in thresholds:
        return None
    p, cut = probabilities[code], thresholds[code]
    if reply == "yes" and p < cut:
        return (f"the classifier does not find {code}: probability {p:.3f}, below its decision "
                f"threshold {cut:.3f}")
    if reply == "no" and p >= cut:
        return (f"the classifier finds {code}: probability {p:.3f}, at or above its decision "
                f"threshold {cut:.3f}")
    return None


def asks_about_axis(question: str) -> bool:
    return bool(_AXIS.search(question))


def axis_note(question: str, answer: str, measurements: dict | None) -> str | None:
    """The answer's axis class (a yes/no about one class, or the class an answer names) against
    the measured QRS axis, when that lies `AXIS_MARGIN_DEG` past the class's boundary."""
    axis = (measurements or {}).get("qrs_axis") or {}
    if not asks_about_axis(question) or axis.get("value") is None \
            or axis.get("confidence", 0) < 0.5:
        return None
    reply = answer.strip().lower().rstrip(".!")
    asked = {_axis_name(m) for m in _AXIS_CLASS.findall(question)}
    named = {_axis_name(m) for m in _AXIS_CLASS.findall(answer)}
    if reply in ("yes", "no") and len(asked) == 1 and not _NEGATION.search(question):
        claimed, present = asked.pop(), reply == "yes"
    elif reply not in ("yes", "no") and len(named) == 1:
        claimed, present = named.pop(), True
    else:
        return None
    low, high = AXIS_RANGES[claimed]
    angle = float(axis["value"])
    inside = min(angle - low, high - angle)  # > 0 inside the range, < 0 outside
    if (present and inside > -AXIS_MARGIN_DEG) or (not present and inside < AXIS_MARGIN_DEG):
        return None
    measured = f"the measured QRS axis is {angle:+.0f}° (confidence {axis['confidence']:.2f})"
    span = f"{claimed} ({low:+.0f}° to {high:+.0f}°)"
    if present:
        return f"{measured}, which is {axis_class(angle)}, not {span}"
    return f"{measured}, inside the range of {span}"


def _axis_name(found: str) -> str:
    found = found.lower()
    return "normal heart axis" if found.startswith("normal") else found


def unmeasured_note(question: str, lm_reads_measurements: bool) -> str | None:
    """A question for a rate or interval, put to an LM that was never shown measured values:
    whatever number or report it gives, it did not read one (`train --measured` teaches it)."""
    if lm_reads_measurements or not (_ASKS_VALUE.search(question) and _MEASURED.search(question)):
        return None
    return ("this language model does not read measured values, so its answer gives no measured "
            "rate or interval; --format json gives them under evidence.measurements")


def likelihood_note(answer: str) -> str | None:
    """Training reports quote PTB-XL's annotators ("Possible IMI (likelihood 50%)"), so the LM
    writes such figures too; read as a probability for this record they mislead."""
    if not _LIKELIHOOD.search(answer):
        return None
    return ("a \"likelihood N%\" in the answer is a phrase the model learnt from cardiologists' "
            "reports, not a probability computed for this record; --format json gives the "
            "classifier's probabilities")


def cut_short_note(complete: bool) -> str | None:
    if complete:
        return None
    return ("the answer reached the token limit before the model ended it, so it may be cut "
            "short; raise --max-new-tokens for more")
