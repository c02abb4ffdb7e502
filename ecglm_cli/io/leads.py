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
    "mlii": "II", "ml2": "II", "mli": "I",
    # Brazilian, Spanish and Portuguese exports name the limb leads DI, DII, DIII (CODE dataset)
    "di": "I", "dii": "II", "diii": "III", "d1": "I", "d2": "II", "d3": "III",
    "iii": "III", "liii": "III", "leadiii": "III", "lead3": "III", "ecgiii": "III",
    "mliii": "III",
    "avr": "aVR", "leadavr": "aVR", "ecgavr": "aVR",
    "avl": "aVL", "leadavl": "aVL", "ecgavl": "aVL",
    "avf": "aVF", "leadavf": "aVF", "ecgavf": "aVF",
}
for _n in range(1, 7):
    for _spelling in (f"v{_n}", f"leadv{_n}", f"ecgv{_n}", f"precordial{_n}"):
        _ALIASES[_spelling] = f"V{_n}"
# Some exports name the chest leads C1-C6, and sleep studies name EEG electrodes C3 and C4: these
# are chest leads only in a file that `chest_leads_named_c` accepts.
_CHEST_C: dict[str, str] = {f"c{_n}": f"V{_n}" for _n in range(1, 7)}
# 10-20 EEG electrode names (after normalising): F3, Fp1, Cz, O2, A1, M2, T7, ...
_EEG_ELECTRODE = re.compile(r"(fp|af|f|fc|ft|c|cp|t|tp|p|po|o|a|m)\d{1,2}|(fp|f|c|p|o)z")
_SEPARATORS = re.compile(r"[\s_\-.:/()]+")

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
    if f"ml{_n}" not in _ALIASES:  # ML2 is MIT-BIH's modified lead II: II, above
        _NONSTANDARD[f"ml{_n}"] = f"ML{_n}"

# Labels that are certainly not ECG (dropped by readers of mixed-signal files).
_NON_ECG = re.compile(
    r"(pleth|ppg|spo2|sao2|abp|art|bp|cvp|pap|resp|thor|abdo?res|airflow|flow|eeg|eog|emg|"
    r"temp|uc|toco|pressure|annotations|status|event|marker|pulse|hr$|sv$|co2|nibp|"
    r"^icp|^[cfpto]z$|^f[p]?\d|^[cpto]\d$|snore|position|light|ox)",
)

# a minus sign before or after the label, or in brackets: "-aVR", "(-aVR)", "aVR-", "aVR(-)"
_INVERTED = re.compile(r"^\(?\s*[-\u2212\u2013]|[-\u2212\u2013]\s*\)?$|\(\s*[-\u2212\u2013]\s*\)")
_REFERENCE_SUFFIX = re.compile(r"[-_ ]?(ref|le|ar|cz)$")


def _normalise(name: str) -> str:
    text = name.strip().lower()
    text = re.sub(r"^(ecg|ekg)[\s_\-:]+", "ecg", text)
    text = _REFERENCE_SUFFIX.sub("", text)
    return re.sub(r"[\s_\-.:()]+", "", text)


def _derivation(name: str) -> list[str] | None:
    """The electrodes of a label that joins two or more ("I-II", "C3-A2", "ECG I II"), else None.

    Without this, removing the separators would read "I-II" as lead III.
    """
    text = re.sub(r"^(ecg|ekg|lead)(?=[\s_\-:])", "", name.strip().lower())
    text = _REFERENCE_SUFFIX.sub("", text)
    parts = [p for p in _SEPARATORS.split(text) if p and p != "lead"]
    electrode = [p in _ALIASES or p in _CHEST_C or _EEG_ELECTRODE.fullmatch(p) for p in parts]
    return parts if len(parts) > 1 and all(electrode) else None


def _lead_key(key: str) -> str:
    """A normalised label without an `ecg` or `lead` prefix before a lead name ("ecgc1")."""
    for prefix in ("ecg", "lead"):
        if key.startswith(prefix) and (key[len(prefix):] in _ALIASES
                                       or key[len(prefix):] in _CHEST_C):
            return key[len(prefix):]
    return key


def _says_ecg(key: str) -> bool:
    """A normalised label that calls itself an ECG lead ("ECG C3", "Lead C3"), not EEG."""
    return key.startswith(("ecg", "lead")) and _lead_key(key) != key


def chest_leads_named_c(names: list[str]) -> bool:
    """Whether a file's C1-C6 labels are chest leads: three or more of them, and no other EEG
    electrode or EEG label (a sleep study's C3 and C4 beside F3, O1 or A2 are EEG)."""
    keys = [_lead_key(_normalise(n)) for n in names]
    named_c = {k for k in keys if k in _CHEST_C}
    eeg = any(k.startswith("eeg") or (_EEG_ELECTRODE.fullmatch(k) and k not in _CHEST_C)
              for k in keys)
    return len(named_c) >= 3 and not eeg


def canonical_lead(name: str, chest_c: bool = False) -> tuple[str, bool]:
    """Map a lead label to `(canonical name, is_standard)`.

    Standard leads come back as `I II III aVR aVL aVF V1..V6`. Other ECG leads keep a tidy form
    of their own name with `is_standard=False`. Raises `ValueError` for a label that is not an
    ECG lead (for example PLETH or ABP), so readers can drop and report it. `C1`-`C6` are chest
    leads only with `chest_c` (see `chest_leads_named_c`); otherwise they are EEG electrodes.
    """
    if _INVERTED.search(name.strip()):
        # an inverted lead (-aVR in the Cabrera display, also written "(-aVR)", "aVR-" or
        # "aVR(-)") is not the lead itself
        return name.strip(), False
    parts = _derivation(name)
    if parts is not None:
        if all(p in _ALIASES for p in parts):  # between two ECG leads: ECG, but no standard lead
            return name.strip(), False
        raise ValueError(f"{name!r} is a derivation between EEG electrodes, not an ECG lead")
    key = _normalise(name)
    numbered = re.fullmatch(r"(f?ecg|ekg|ch|channel)(\d+)", key)
    if numbered:  # "ECG 1", "ch3": a channel number, not lead I or III
        return f"{numbered.group(1).upper()}{numbered.group(2)}", False
    chest_c = chest_c or _says_ecg(key)
    key = _lead_key(key)
    if key in _CHEST_C:
        if chest_c:
            return _CHEST_C[key], True
        raise ValueError(f"{name!r} is read as an EEG electrode (C1-C6 are chest leads only in a "
                         "file with three or more of them and no EEG channel)")
    if key in _ALIASES:
        return _ALIASES[key], True
    if key in _NONSTANDARD:
        return _NONSTANDARD[key], False
    if _NON_ECG.search(key):
        raise ValueError(f"{name!r} is not an ECG channel")
    if "ecg" in key or "ekg" in key:
        return name.strip(), False
    raise ValueError(f"{name!r} is not a recognised ECG lead")


def typed_lead_name(name: str) -> str:
    """A lead name a user typed (`--input-leads`): `C1`-`C6` mean the chest leads there, as in
    `--leads`, whatever else the file holds."""
    try:
        lead, standard = canonical_lead(name, chest_c=True)
    except ValueError:
        return name
    return lead if standard else name


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
        lead, _ = canonical_lead(part, chest_c=True)
        leads.append(lead)
    if not leads:
        raise ValueError(f"no leads in {spec!r}")
    return leads


def alias_table() -> dict[str, tuple[bool, list[str]]]:
    """Canonical lead -> (is_standard, normalised spellings that map to it); for docs/formats.md."""
    table: dict[str, tuple[bool, list[str]]] = {lead: (True, []) for lead in STANDARD_LEADS}
    for spelling, lead in _ALIASES.items():
        table[lead][1].append(spelling)
    for spelling, lead in _CHEST_C.items():
        table[lead][1].append(f"{spelling} (*)")
    for spelling, lead in _NONSTANDARD.items():
        table.setdefault(lead, (False, []))[1].append(spelling)
    return table
