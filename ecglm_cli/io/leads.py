"""The one place that maps lead names as found in files to canonical names."""

from __future__ import annotations

import re

STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
LIMB_LEADS: tuple[str, ...] = STANDARD_LEADS[:6]
PRECORDIAL_LEADS: tuple[str, ...] = STANDARD_LEADS[6:]

# Normalised spelling (lower case, no separators) -> standard lead.
_ALIASES: dict[str, str] = {
    "i": "I", "li": "I", "leadi": "I", "lead1": "I", "ecgi": "I",
    "ii": "II", "lii": "II", "leadii": "II", "lead2": "II", "ecgii": "II",
    "mlii": "II", "ml2": "II",
    "iii": "III", "liii": "III", "leadiii": "III", "lead3": "III", "ecgiii": "III",
    "mliii": "III",
    "avr": "aVR", "leadavr": "aVR", "ecgavr": "aVR", "-avr": "aVR",
    "avl": "aVL", "leadavl": "aVL", "ecgavl": "aVL",
    "avf": "aVF", "leadavf": "aVF", "ecgavf": "aVF",
}
for _n in range(1, 7):
    for _spelling in (f"v{_n}", f"leadv{_n}", f"ecgv{_n}", f"c{_n}", f"precordial{_n}"):
        _ALIASES[_spelling] = f"V{_n}"

# ECG leads that are real but outside the standard 12: kept under their own names.
_NONSTANDARD: dict[str, str] = {
    "mcl1": "MCL1", "mcl6": "MCL6", "vx": "vx", "vy": "vy", "vz": "vz",
    "x": "vx", "y": "vy", "z": "vz", "v": "V", "ecg": "ECG", "ml": "ML",
    "v7": "V7", "v8": "V8", "v9": "V9", "v3r": "V3R", "v4r": "V4R", "v5r": "V5R",
    "cm5": "CM5",
    "fetal": "fetal", "fecg": "FECG", "abdomen": "abdomen",
}
for _n in range(1, 7):
    _NONSTANDARD[f"mlv{_n}"] = f"MLV{_n}"
    _NONSTANDARD[f"ml{_n}"] = f"ML{_n}"

# Labels that are certainly not ECG (dropped by readers of mixed-signal files).
_NON_ECG = re.compile(
    r"(pleth|ppg|spo2|sao2|abp|art|bp|cvp|pap|resp|thor|abdo?res|airflow|flow|eeg|eog|emg|"
    r"temp|uc|toco|pressure|annotations|status|event|marker|pulse|hr$|sv$|co2|nibp|"
    r"^icp|^[cfpto]z$|^f[p]?\d|^[cpto]\d$|snore|position|light|ox)",
)

_REFERENCE_SUFFIX = re.compile(r"[-_ ]?(ref|le|ar|cz)$")


def _normalise(name: str) -> str:
    text = name.strip().lower()
    text = re.sub(r"^(ecg|ekg)[\s_\-:]+", "ecg", text)
    text = _REFERENCE_SUFFIX.sub("", text)
    return re.sub(r"[\s_\-.:()]+", "", text)


def canonical_lead(name: str) -> tuple[str, bool]:
    """Map a lead label to `(canonical name, is_standard)`.

    Standard leads come back as `I II III aVR aVL aVF V1..V6`. Other ECG leads keep a tidy form
    of their own name with `is_standard=False`. Raises `ValueError` for a label that is not an
    ECG lead (for example PLETH or ABP), so readers can drop and report it.
    """
    key = _normalise(name)
    numbered = re.fullmatch(r"(f?ecg|ekg|ch|channel)(\d+)", key)
    if numbered:  # "ECG 1", "ch3": a channel number, not lead I or III
        return f"{numbered.group(1).upper()}{numbered.group(2)}", False
    if key.startswith("ecg") and key[3:] in _ALIASES:
        key = key[3:]
    if key.startswith("lead") and key[4:] in _ALIASES:
        key = key[4:]
    if key in _ALIASES:
        return _ALIASES[key], True
    if key in _NONSTANDARD:
        return _NONSTANDARD[key], False
    if _NON_ECG.search(key):
        raise ValueError(f"{name!r} is not an ECG channel")
    if "ecg" in key or "ekg" in key:
        return name.strip(), False
    raise ValueError(f"{name!r} is not a recognised ECG lead")


def parse_lead_set(spec: str) -> list[str]:
    """Expand a `--leads` value: `12`, `limb`, `precordial`, or a comma list like `I,II,V1`."""
    named = {
        "12": list(STANDARD_LEADS), "all": list(STANDARD_LEADS),
        "limb": list(LIMB_LEADS), "precordial": list(PRECORDIAL_LEADS),
    }
    if spec.strip().lower() in named:
        return named[spec.strip().lower()]
    leads = []
    for part in spec.split(","):
        if not part.strip():
            continue
        lead, _ = canonical_lead(part)
        leads.append(lead)
    if not leads:
        raise ValueError(f"no leads in {spec!r}")
    return leads


def alias_table() -> dict[str, tuple[bool, list[str]]]:
    """Canonical lead -> (is_standard, normalised spellings that map to it); for docs/formats.md."""
    table: dict[str, tuple[bool, list[str]]] = {lead: (True, []) for lead in STANDARD_LEADS}
    for spelling, lead in _ALIASES.items():
        table[lead][1].append(spelling)
    for spelling, lead in _NONSTANDARD.items():
        table.setdefault(lead, (False, []))[1].append(spelling)
    return table
