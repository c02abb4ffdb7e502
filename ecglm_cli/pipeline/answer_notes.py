"""Notes that qualify an answer where the recording or the classifier does not back it up.

The answer stays the language model's own text. The compact LM is not told which leads a
recording has, its yes/no can disagree with the classifier heads it reads or its axis with the
measured one (and both axes are wrong when the arm electrodes were swapped), it may be asked
for values it never read, and a long answer stops at the token limit: these notes say so
instead of leaving the reader to find out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecglm_cli.io.leads import LIMB_LEADS, STANDARD_LEADS, canonical_lead
from ecglm_cli.knowledge.labels import axis_class
from ecglm_cli.knowledge.statements import overlapping_territories

_LEAD = r"(?:I{1,3}|a[Vv][RLFrlf]|[Vv][1-6])"
_SEP = r"\s*(?:,|and|or|&|/)\s*"
# "lead II", "leads II, III and aVF": roman numerals count only after "lead", or as a list after
# "leads" ("the leads I have" is not lead I)
_LEAD_LIST = re.compile(
    rf"\b(?:(?i:lead)(?:\s+|\s*[,:]\s*)({_LEAD}(?:{_SEP}{_LEAD})*)"
    rf"|(?i:leads)(?:\s+|\s*[,:]\s*)({_LEAD}(?:{_SEP}{_LEAD})+))(?![\w-])")
# "V2", "aVF" anywhere: no English word is spelt like them. "AVR" (aortic valve replacement) and
# "AVF" (a fistula) in capitals are not leads.
_LEAD_NAMED = re.compile(r"(?<![\w-])(a[Vv][RLFrlf]|[Vv][1-6])(?![\w-])")
# "V1-V3", "V1 to V4", "leads I-III": every lead between
_LEAD_RANGE = re.compile(
    r"(?<![\w-])([Vv][1-6])\s*(?:-|–|to)\s*([Vv][1-6])(?![\w-])"
    r"|(?i:leads?)\s+(I{1,3})\s*(?:-|–|to)\s*(I{1,3})(?![\w-])")
# the usual groups of leads (AHA/ACCF/HRS 2009 wording)
LEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"), "lateral": ("I", "aVL", "V5", "V6"),
    "high lateral": ("I", "aVL"), "septal": ("V1", "V2"), "anterior": ("V3", "V4"),
    "anteroseptal": ("V1", "V2", "V3", "V4"), "precordial": STANDARD_LEADS[6:],
    "chest": STANDARD_LEADS[6:], "limb": LIMB_LEADS,
}
_LEAD_GROUP = re.compile(
    r"\b(high lateral|inferior|lateral|septal|anteroseptal|anterior|precordial|chest|limb)"
    r"\s+leads\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(no|not|none|without|absen\w*|ruled?|exclude[sd]?|unlikely|lack\w*|"
                       r"negative|missing|free of)\b|n't\b", re.IGNORECASE)
# "A or B?": a yes or no does not say which one it is about
_CHOICE = re.compile(r"\bor\b|\bversus\b|\bvs\.?(?!\w)", re.IGNORECASE)
# Findings that many statements share: "ST depression" comes with ischaemia and infarction as
# much as with non-specific ST depression (STD_), so that one code's cut does not decide it
SHARED_FINDINGS = frozenset({"STD_", "STE_", "QWAVE", "INVT"})
_AXIS = re.compile(r"\baxis\b", re.IGNORECASE)
_ASKS_VALUE = re.compile(r"\b(what|how (much|long|fast|wide|slow)|value|give|tell|estimate|"
                         r"measure)\b", re.IGNORECASE)
# ECG-QA's axis classes and their ranges in degrees, as `knowledge.labels.axis_class` draws them
AXIS_RANGES: dict[str, tuple[float, float]] = {
    "normal heart axis": (-30.0, 90.0),
    "left axis deviation": (-90.0, -30.0),
    "right axis deviation": (90.0, 180.0),
}
# PTB-XL labels the axis "left" in 74 of the 79 records (folds 1-9) measured at -30..0 degrees,
# where the guideline class is normal: only a measured axis this far outside the class an
# answer gives contradicts it. A class the answer denies needs less (LAD is only 60 degrees
# wide): no record measured below -30 degrees is labelled normal.
AXIS_MARGIN_DEG = 30.0
DENIED_MARGIN_DEG = 10.0
_AXIS_CLASS = re.compile(
    r"\b(left[- ]axis(?: deviation)?|right[- ]axis(?: deviation)?|normal (?:heart )?axis"
    r"|axis (?:is )?normal)\b", re.IGNORECASE)
_LIKELIHOOD = re.compile(r"\blikelihood \d+ ?%", re.IGNORECASE)


def named_leads(text: str) -> list[str]:
    """Standard leads that `text` names ("V2", "aVF", "lead III", "leads II, III and aVF",
    "V1-V3", "inferior leads")."""
    parts = [m.group(1) for m in _LEAD_NAMED.finditer(text)]
    for listed in _LEAD_LIST.finditer(text):
        parts += re.findall(_LEAD, listed.group(1) or listed.group(2))
    named = {canonical_lead(p)[0] for p in parts}
    for match in _LEAD_RANGE.finditer(text):
        ends = [e for e in match.groups() if e]
        low, high = sorted(STANDARD_LEADS.index(canonical_lead(e)[0]) for e in ends)
        named.update(STANDARD_LEADS[low:high + 1])
    for group in _LEAD_GROUP.findall(text):
        named.update(LEAD_GROUPS[group.lower()])
    return [lead for lead in STANDARD_LEADS if lead in named]


def lead_notes(question: str, leads_read: list[str]) -> list[str]:
    """The question asks about leads, or the axis, that the model did not read."""
    read = ", ".join(leads_read)
    notes = []
    missing = [lead for lead in named_leads(question) if lead not in leads_read]
    if missing:
        many = len(missing) > 1
        notes.append(f"the question names lead{'s' if many else ''} {', '.join(missing)}, which "
                     f"the model did not read (leads read: {read}); the answer cannot rest on "
                     f"{'them' if many else 'it'}")
    if asks_about_axis(question) and sum(lead in leads_read for lead in LIMB_LEADS) < 2:
        notes.append("the heart axis needs at least two limb leads, and the model read "
                     f"{'only ' + read if read else 'none'}")
    return notes


def disagreement_note(question: str, answer: str, statements: list[str],
                      probabilities: dict[str, float],
                      thresholds: dict[str, float]) -> str | None:
    """A yes/no about one statement that the classifier, at its decision threshold, contradicts.

    Only plain questions: one statement named, no negation ("Is there no AF?" inverts "yes"),
    no choice ("AF or flutter?"), and not a finding many statements share (`SHARED_FINDINGS`).
    A regional "yes" stands when the classifier finds an overlapping territory of its kind.
    """
    reply = _plain_yes_no(question, answer)
    if reply is None or len(statements) != 1 or statements[0] in SHARED_FINDINGS:
        return None
    code = statements[0]
    if code not in probabilities or code not in thresholds:
        return None
    p, cut = probabilities[code], thresholds[code]
    if reply == "yes" and p < cut:
        if any(probabilities.get(other, 0.0) >= thresholds.get(other, 1.0)
               for other in overlapping_territories().get(code, ())):
            return None  # "anterior MI?" of an anteroseptal one: the classifier finds ASMI
        return (f"the classifier does not find {code}: probability {p:.3f}, below its decision "
                f"threshold {cut:.3f}")
    if reply == "no" and p >= cut:
        return (f"the classifier finds {code}: probability {p:.3f}, at or above its decision "
                f"threshold {cut:.3f}")
    return None


def _is_yes_no(answer: str) -> bool:
    return answer.strip().lower().rstrip(".!") in ("yes", "no")


def _plain_yes_no(question: str, answer: str) -> str | None:
    """"yes" or "no" when the answer is that and the question a plain one: no negation ("Is
    there no AF?" inverts the answer), no choice ("AF or flutter?"); else None."""
    if not _is_yes_no(answer) or _NEGATION.search(question) or _CHOICE.search(question):
        return None
    return answer.strip().lower().rstrip(".!")


def asks_about_axis(question: str) -> bool:
    return bool(_AXIS.search(question))


def axis_note(question: str, answer: str, measurements: dict | None) -> str | None:
    """The answer's axis class (a yes/no about one class, or the class an answer names) against
    the measured QRS axis, when that lies `AXIS_MARGIN_DEG` outside the class given, or
    `DENIED_MARGIN_DEG` inside a class denied."""
    axis = (measurements or {}).get("qrs_axis") or {}
    if not asks_about_axis(question) or axis.get("value") is None \
            or axis.get("confidence", 0) < 0.5:
        return None
    reply = _plain_yes_no(question, answer)
    asked = {_axis_name(m) for m in _AXIS_CLASS.findall(question)}
    named = {_axis_name(m) for m in _AXIS_CLASS.findall(answer)}
    if reply is not None and len(asked) == 1:
        claimed, present = asked.pop(), reply == "yes"
    elif not _is_yes_no(answer) and len(named) == 1:
        claimed, present = named.pop(), True
    else:
        return None
    low, high = AXIS_RANGES[claimed]
    angle = float(axis["value"])
    # > 0 inside the range, < 0 outside; on the circle, so -170 degrees is 10 past +180
    inside = max(min(a - low, high - a) for a in (angle - 360, angle, angle + 360))
    if (present and inside > -AXIS_MARGIN_DEG) or (not present and inside < DENIED_MARGIN_DEG):
        return None
    measured = f"the measured QRS axis is {angle:+.0f}° (confidence {axis['confidence']:.2f})"
    span = f"{_named(claimed)} ({low:+.0f}° to {high:+.0f}°)"
    if present:
        return f"{measured}, which is {_named(axis_class(angle))}, not {span}"
    return f"{measured}, inside the range of {span}"


def reversal_note(question: str, measurements: dict | None) -> str | None:
    """An axis asked of a record whose arm electrodes look swapped: the measured axis, and the
    one the model read, are then turned round."""
    if not asks_about_axis(question) or not measurements:
        return None
    # late: the features package imports scipy.signal (1.3 s), which a text answer about
    # anything but the axis never needs
    from ecglm_cli.features.lead_reversal import NOTE as ARMS_SWAPPED

    if ARMS_SWAPPED in str(measurements.get("note")):
        return ("the arm electrodes of this recording may be swapped (P wave and QRS inverted "
                "in lead I, upright in aVR), and the axis is then wrong")
    return None


def _named(axis: str) -> str:
    return f"a {axis}" if axis == "normal heart axis" else axis


def _axis_name(found: str) -> str:
    found = found.lower()
    if "normal" in found:
        return "normal heart axis"
    return "left axis deviation" if found.startswith("left") else "right axis deviation"


@dataclass(frozen=True)
class MeasuredValue:
    """A `features.measure` value that questions name: a value question asks for it ("What is
    the QRS duration?"), a limit is set on its subject ("Is the QRS longer than 120 ms?")."""

    key: str
    name: str  # in notes
    asked: re.Pattern  # named by a value question (the QRS only by its duration: "the QRS
    # morphology" is not a value)
    subject: str | None  # what a limit is set on (None: no limit is read for it)
    unit: str = "ms"
    plausible: tuple[float, float] = (40.0, 1000.0)  # limits outside are not this value's


_RATE = r"(?:heart\s+|ventricular\s+)?rate"
_QRS = r"(?<!between )\bqrs(?:\s+(?:complex(?:es)?|duration|width))?"
_PR_INTERVAL = r"\bpr(?:\s+interval)?"


def _value(key: str, name: str, asked: str, subject: str | None, unit: str = "ms",
           plausible: tuple[float, float] = (40.0, 1000.0)) -> MeasuredValue:
    return MeasuredValue(key, name, re.compile(asked, re.IGNORECASE), subject, unit, plausible)


MEASURED_VALUES: tuple[MeasuredValue, ...] = (
    _value("heart_rate", "heart rate", r"\b(heart ?rate|rate|hr|bpm)\b",
           rf"\b{_RATE}|\bhr|\bpulse", "bpm", (20.0, 300.0)),
    _value("rr_mean", "mean RR interval", r"\brr\b", None),
    _value("pr_interval", "PR interval", r"\bpr\b", _PR_INTERVAL),
    _value("qrs_duration", "QRS duration", r"\bqrs (duration|width)\b", _QRS),
    _value("qt_interval", "QT interval", r"(?<!corrected )\bqt\b",
           r"(?<!corrected )\bqt(?:\s+interval)?"),
    _value("qtc_bazett", "QTc (Bazett)", r"\b(qtc|corrected qt)\b",
           r"\b(?:qtc|corrected\s+qt)(?:\s+interval)?"),
)


def asks_for_value(question: str) -> bool:
    """"What is the heart rate?", "Give me the QRS duration.": a rate or interval is asked."""
    return bool(_ASKS_VALUE.search(question)) and any(
        value.asked.search(question) for value in MEASURED_VALUES)


def unmeasured_note(question: str, lm_reads_measurements: bool,
                    measurements: dict | None = None) -> str | None:
    """A question for a rate or interval, put to an LM that was never shown measured values:
    whatever number or report it gives, it did not read one (`train --measured` teaches it).
    The note gives the values asked for as `features.measure` found them, named as such."""
    if lm_reads_measurements or not asks_for_value(question):
        return None
    note = ("this language model does not read measured values, so its answer gives no measured "
            "rate or interval")
    asked = [value for value in MEASURED_VALUES if value.asked.search(question)]
    if not measurements or not asked:
        return note + "; --format json gives them under evidence.measurements"
    return note + "; measured from the recording: " + ", ".join(
        _measured_text(value.name, measurements.get(value.key)) for value in asked)


# rhythms without a P wave before each QRS: a PR interval measured there times a fibrillation or
# flutter wave (the measurements null it in 2:1 flutter; 2 of the 9 PTB-XL AFLT records of folds
# 1-9 still measure one, at confidence 0.99 or more)
NO_PR_RHYTHMS = ("AFIB", "AFLT")
_ASKS_PR = re.compile(r"\b(pr|p-r)\b|\bav (conduction|block)|\bfirst[- ]degree\b", re.IGNORECASE)


def no_pr_note(question: str, probabilities: dict[str, float],
               thresholds: dict[str, float]) -> str | None:
    """A question about the PR interval of a record whose classifier finds atrial fibrillation
    or flutter, at its decision threshold: there is no PR interval to speak of then."""
    if not _ASKS_PR.search(question):
        return None
    found = [f"{code} {probabilities[code]:.3f}" for code in NO_PR_RHYTHMS
             if code in probabilities and code in thresholds
             and probabilities[code] >= thresholds[code]]
    if not found:
        return None
    return (f"the classifier finds {' and '.join(found)} (probability, at or above its decision "
            "threshold): atrial fibrillation and flutter have no regular P wave before each QRS, "
            "so a PR interval, measured or answered, does not apply")


def needs_measurements(question: str) -> bool:
    """Whether a note on this question compares the answer with measured values (the axis, a
    rate or interval, a finding that a measurement decides): only then is a text answer
    measured."""
    return asks_about_axis(question) or asks_for_value(question) \
        or _limit_claim(question) is not None \
        or any(claim.pattern.search(question) for claim in MEASURED_CLAIMS)


@dataclass(frozen=True)
class MeasuredClaim:
    """A finding that a measurement decides ("tachycardia": heart rate over 100 bpm). An answer
    claiming it (a `yes`, or a `no` to it) is contradicted only when the measured value lies
    clearly on the other side: below `clearly_low` or above `clearly_high`, where the normal
    limit lies between them, so a value near the limit never gets a note."""

    pattern: re.Pattern
    key: str  # the `features.measure` entry, or "rr_cv" (RR SD over mean)
    high: bool  # the finding is a high value (tachycardia), not a low one (bradycardia)
    clearly_low: float
    clearly_high: float
    meaning: str  # what the finding means, for the note


def _claim(pattern: str, key: str, high: bool, bounds: tuple[float, float],
           meaning: str) -> MeasuredClaim:
    return MeasuredClaim(re.compile(pattern, re.IGNORECASE), key, high, *bounds, meaning)


# Between a subject and its adjective only these words, so that both sit in one clause: "Is the
# heart rate normal with high QRS voltage?" is no claim of tachycardia, nor "the rate of PVCs".
_LINK = r"(?:\s+(?:is|are|was|were|too|very|abnormally|quite|rather|it|seems?|looks?))*\s+"
# what "regular" is said of: the ventricular rhythm, not the P waves (regular in AV block)
_BEATS = rf"(?:rhythm|rr(?:\s+intervals?)?|heart\s*beats?|beats|pulse|{_RATE})"
# The shipped LM said `yes` both to "Is the rhythm regular?" and to "... irregular?" of all 20
# fold-9 AF and sinus records asked, and `no` to "Is the heart rate fast?" at 137.5 bpm. RR
# variation: PTB-XL folds 8-9 at 100 Hz, of 25 AF records 72 % measure 0.15 or more and none
# below 0.05; of 295 sinus records without ectopic beats or sinus arrhythmia, 2.4 % measure
# 0.15 or more, 84 % below 0.05.
MEASURED_CLAIMS: tuple[MeasuredClaim, ...] = (
    _claim(rf"tachycardi|\b(fast|rapid|high)\s+{_RATE}\b(?!\s+of\b)|\b{_RATE}{_LINK}"
           r"(fast|rapid|high)\b", "heart_rate", True, (90, 110),
           "tachycardia is a rate over 100 bpm"),
    _claim(rf"bradycardi|\b(slow|low)\s+{_RATE}\b(?!\s+of\b)|\b{_RATE}{_LINK}(slow|low)\b",
           "heart_rate", False, (50, 70), "bradycardia is a rate under 60 bpm"),
    _claim(rf"\b(wide|broad|prolonged|long)\s+qrs\b(?!-)|{_QRS}{_LINK}"
           r"(wide|broad|prolonged|long)\b", "qrs_duration", True, (100, 130),
           "a wide QRS lasts 120 ms or more"),
    _claim(rf"\bnarrow\s+qrs\b(?!-)|{_QRS}{_LINK}narrow\b", "qrs_duration", False, (100, 130),
           "a narrow QRS lasts under 120 ms"),
    _claim(rf"\b(long|prolonged)\s+pr\b(?!\s+segment)|{_PR_INTERVAL}{_LINK}(long|prolonged)\b",
           "pr_interval", True, (180, 240), "a prolonged PR lasts over 200 ms"),
    _claim(rf"\birregular(ly)?(\s+irregular)?\s+{_BEATS}\b|\b{_BEATS}{_LINK}irregular",
           "rr_cv", True, (0.05, 0.15), "an irregular rhythm's RR intervals vary by 15 % or more"),
    _claim(rf"\bregular\s+{_BEATS}\b|\b{_BEATS}{_LINK}regular\b", "rr_cv", False,
           (0.05, 0.15), "a regular rhythm's RR intervals vary by under 5 %"),
)

# "Is the heart rate above 100 bpm?", "Is the QRS longer than 0.12 s?": a limit the question
# sets itself, on the subject just before it; the unit, where given, must be that subject's
_COMPARATOR = (r"(?:(above|over|more than|greater than|higher than|longer than|exceed\w*)"
               r"|(below|under|less than|lower than|shorter than))")
_NUMBER = (r"\s+(\d+(?:\.\d+)?)(?:\s*(bpm|beats per minute|/\s*min|per minute|ms|msec|"
           r"milliseconds?|s|sec|seconds?)\b)?"
           # another unit after the number: the limit is not this subject's ("35 mm")
           r"(?!\s*(?:mm|mv|µv|uv|millivolts?|degrees?|deg\b|°|%|years?|yrs?\b|kg|cm|"
           r"hundred|thousand|minutes?))")
# the units a limit may be given in, and the factor to the measurement's unit
_UNIT_FACTORS = {
    "bpm": {"bpm": 1.0, "beatsperminute": 1.0, "/min": 1.0, "perminute": 1.0},
    "ms": {"ms": 1.0, "msec": 1.0, "millisecond": 1.0, "milliseconds": 1.0,
           "s": 1000.0, "sec": 1000.0, "second": 1000.0, "seconds": 1000.0},
}
_LIMITS = tuple((re.compile(rf"(?:{value.subject}){_LINK}{_COMPARATOR}{_NUMBER}", re.IGNORECASE),
                 value) for value in MEASURED_VALUES if value.subject)
_ANY_COMPARATOR = re.compile(rf"\b{_COMPARATOR}\s+\d", re.IGNORECASE)
LIMIT_MARGIN = 0.1  # a value within 10 % of the question's own limit gets no note


def _limit_claim(question: str) -> MeasuredClaim | None:
    """A claim about one measurement against the one limit the question sets (the fixed words
    of `MEASURED_CLAIMS` missed "above 100 bpm", and a wrong `no` at 137.5 bpm went without a
    note). None for a limit in another unit ("35 mm"), of another subject ("the patient over
    65"), out of range, or one of several."""
    if len(_ANY_COMPARATOR.findall(question)) != 1:
        return None
    found = [(match, value) for pattern, value in _LIMITS if (match := pattern.search(question))]
    if len(found) != 1:
        return None
    match, value = found[0]
    unit, (low, high) = value.unit, value.plausible
    above, _, number, given = match.groups()[-4:]
    factor = _UNIT_FACTORS[unit].get(re.sub(r"\s", "", given.lower())) if given else 1.0
    if factor is None or not low <= float(number) * factor <= high:
        return None
    limit = float(number) * factor
    meaning = f"the question asks for {'over' if above else 'under'} {limit:g} {unit}"
    return MeasuredClaim(_ANY_COMPARATOR, value.key, bool(above), limit * (1 - LIMIT_MARGIN),
                         limit * (1 + LIMIT_MARGIN), meaning)


def measured_claim_note(question: str, answer: str, measurements: dict | None) -> str | None:
    """A yes/no about one finding a measurement decides (or the one such finding an answer
    names, when the question is about that measurement), or about a measurement against a limit
    the question sets, where the measured value lies clearly on the other side of the limit."""
    limited = _limit_claim(question)
    asked = [limited] if limited else [claim for claim in MEASURED_CLAIMS
                                       if claim.pattern.search(question)]
    reply = _plain_yes_no(question, answer)
    if len(asked) == 1 and reply is not None:
        claim, present = asked[0], reply == "yes"
    elif asked and not _is_yes_no(answer) and not _NEGATION.search(answer):
        named = [claim for claim in MEASURED_CLAIMS if claim.pattern.search(answer)
                 and claim.key in {a.key for a in asked}]
        if len(named) != 1:
            return None
        claim, present = named[0], True
    else:
        return None
    measured = _claim_value(claim.key, measurements or {})
    if measured is None:
        return None
    value, text = measured
    says_high = claim.high == present  # the answer puts the value high
    if (value >= claim.clearly_low) if says_high else (value <= claim.clearly_high):
        return None  # the answer agrees with the measurement, or the value is near the limit
    return f"the measured {text}, against the answer ({claim.meaning})"


def _claim_value(key: str, measurements: dict) -> tuple[float, str] | None:
    """The measured value `key` names, with its text for a note; None when not measured with
    confidence 0.5 or more."""
    if key == "rr_cv":
        sd, mean = (measurements.get(k) or {} for k in ("rr_sd", "rr_mean"))
        if not isinstance(sd.get("value"), (int, float)) or not mean.get("value") \
                or min(sd.get("confidence", 0), mean.get("confidence", 0)) < 0.5:
            return None
        cv = sd["value"] / mean["value"]
        return cv, (f"RR intervals vary by {cv:.0%} (SD {sd['value']:g} ms, mean "
                    f"{mean['value']:g} ms)")
    entry = measurements.get(key) or {}
    if not isinstance(entry.get("value"), (int, float)) or entry.get("confidence", 0) < 0.5:
        return None
    name = next(value.name for value in MEASURED_VALUES if value.key == key)
    return float(entry["value"]), (f"{name} is {entry['value']:g} {entry['unit']} "
                                   f"(confidence {entry['confidence']:.2f})")


def _measured_text(name: str, entry: object) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float)):
        return f"{name} {entry['value']:g} {entry.get('unit') or ''}".rstrip()
    reason = entry.get("reason") if isinstance(entry, dict) else None
    return f"{name} not measured: {reason}" if reason else f"{name} not measured"


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
