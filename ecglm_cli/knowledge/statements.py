"""The guideline knowledge base: one entry per PTB-XL statement (statements.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Statement:
    """One PTB-XL SCP statement with its readable name, category, criteria and source."""

    code: str
    name: str
    ecgqa_name: str | None  # ECG-QA's answer string, None when ECG-QA does not ask about it
    category: dict  # diagnostic/form/rhythm flags, diagnostic_class, diagnostic_subclass
    criteria: str
    source: str
    aliases: tuple[str, ...] = ()  # how clinicians also write it (for finding it in a question)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f for f in ("diagnostic", "form", "rhythm") if self.category.get(f))


@lru_cache(maxsize=1)
def load_statements() -> dict[str, Statement]:
    """All 71 statements keyed by SCP code, read from the package data file."""
    text = resources.files("ecglm_cli.knowledge").joinpath("statements.json").read_text("utf-8")
    return {entry["code"]: Statement(**{**entry, "aliases": tuple(entry.get("aliases", ()))})
            for entry in json.loads(text)["statements"]}


@lru_cache(maxsize=1)
def by_ecgqa_name() -> dict[str, Statement]:
    """ECG-QA answer string -> statement."""
    return {s.ecgqa_name: s for s in load_statements().values() if s.ecgqa_name}


@lru_cache(maxsize=1)
def by_answer_name() -> dict[str, Statement]:
    """The name an answer uses -> statement (for explaining it with its criteria): ECG-QA's
    name, or the readable name of a statement ECG-QA never names."""
    readable = {s.name: s for s in load_statements().values() if not s.ecgqa_name}
    return {**readable, **by_ecgqa_name()}


_REGIONAL = re.compile(r"(.+) in (\w+) leads")  # ECG-QA's "ischemic in anterolateral leads"
_TERRITORY = re.compile(r"anter|sept|infer|poster|lateral")


@lru_cache(maxsize=1)
def overlapping_territories() -> dict[str, frozenset[str]]:
    """Regional statement -> the other statements of its kind whose territory overlaps it
    (AMI -> ASMI, ALMI): "anterior MI" is commonly said of an anteroseptal one."""
    regions: dict[str, tuple[str, frozenset[str]]] = {}
    for code, statement in load_statements().items():
        found = _REGIONAL.fullmatch(statement.ecgqa_name or "")
        if found:
            regions[code] = (found[1], frozenset(_TERRITORY.findall(found[2])))
    return {
        code: frozenset(other for other, (kind2, parts2) in regions.items()
                        if other != code and kind2 == kind and parts & parts2)
        for code, (kind, parts) in regions.items()
    }
