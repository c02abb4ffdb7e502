"""Choose the ECG channels of a mixed-signal file, say why the others were dropped, and scale
voltages to millivolts."""

from __future__ import annotations

import re
from collections.abc import Callable

from ecglm_cli.io.leads import canonical_lead, chest_leads_named_c

_TO_MV = {"mv": 1.0, "uv": 1e-3, "v": 1e3, "nv": 1e-6}


def unit_scale(unit: str | None) -> float | None:
    """Factor that turns a physical unit into millivolts; None when it is not a voltage.

    An empty unit counts as mV, the WFDB default. Accepts `mV`, `uV`, `µV` (and EDFlib's
    `AuV` for it), `V`, `nV` and the spelled-out forms (`millivolt`, `microvolts`, ...).
    """
    key = (unit or "mV").strip().lower().replace("µ", "u").replace("μ", "u")
    key = re.sub(r"vol(ts?)?$", "v", key)  # EDF's 8-character field cuts "millivolt" to "millivol"
    # EDFlib (pyedflib) writes a UTF-8 "µV" as ASCII "AuV" (each byte transliterated)
    key = {"milliv": "mv", "microv": "uv", "nanov": "nv", "auv": "uv", "": "mv"}.get(key, key)
    return _TO_MV.get(key)


def select_ecg_channels(
    names: list[str], units: list[str], scale: Callable[[str], float | None] = unit_scale
) -> tuple[list[int], list[str], list[str], dict[str, str]]:
    """Return (ECG channel indices, their canonical leads, non-standard leads, dropped {name:
    reason}). A lead may appear more than once: which copy is used is decided by `assemble`,
    once it knows which copies can be read (a first copy at an unusable rate must not push
    aside a good second one)."""
    keep: list[int] = []
    leads: list[str] = []
    nonstandard: list[str] = []
    dropped: dict[str, str] = {}
    chest_c = chest_leads_named_c(names)
    for i, name in enumerate(names):
        try:
            lead, standard = canonical_lead(name, chest_c)
        except ValueError as exc:
            dropped[unique_key(name, dropped)] = str(exc)
            continue
        if scale(units[i]) is None:
            dropped[unique_key(name, dropped)] = f"unit {units[i]!r} is not a voltage"
            continue
        keep.append(i)
        leads.append(lead)
        if not standard and lead not in nonstandard:
            nonstandard.append(lead)
    return keep, leads, nonstandard, dropped


def unique_key(name: str, taken: dict[str, str]) -> str:
    """A key for `dropped` that does not overwrite an earlier channel with the same label."""
    key, n = name, 2
    while key in taken:
        key, n = f"{name} ({n})", n + 1
    return key
