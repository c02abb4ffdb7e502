"""Choose the ECG channels of a mixed-signal file and say why the others were dropped."""

from __future__ import annotations

from collections.abc import Callable

from ecglm_cli.io.leads import canonical_lead


def select_ecg_channels(
    names: list[str], units: list[str], unit_scale: Callable[[str], float | None]
) -> tuple[list[int], list[str], list[str], dict[str, str]]:
    """Return (kept indices, canonical names, non-standard names, dropped {name: reason})."""
    keep: list[int] = []
    leads: list[str] = []
    nonstandard: list[str] = []
    dropped: dict[str, str] = {}
    for i, name in enumerate(names):
        try:
            lead, standard = canonical_lead(name)
        except ValueError as exc:
            dropped[name] = str(exc)
            continue
        if unit_scale(units[i]) is None:
            dropped[name] = f"unit {units[i]!r} is not a voltage"
            continue
        if lead in leads:
            dropped[name] = f"duplicate of lead {lead}"
            continue
        keep.append(i)
        leads.append(lead)
        if not standard:
            nonstandard.append(lead)
    return keep, leads, nonstandard, dropped
