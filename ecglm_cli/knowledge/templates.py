"""ECG-QA single-ECG question templates: packaged copy, or derived from an ECG-QA folder.

Each template has ECG-QA's id, question type, attribute type, answer classes, one canonical
wording with ``${...}`` placeholders and several paraphrases. ``kind`` says how the synthesizer
answers it from a record's labels (see `ecglm_cli.knowledge.synthesize`). Templates marked
``verbatim`` carry ECG-QA's own wording (from the dataset files or its README); the others were
reconstructed from the answer classes in answers_for_each_template.csv (docs/knowledge.md).
"""

from __future__ import annotations

import ast
import csv
import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ecglm_cli.data.ecgqa import SINGLE_TYPES, iter_json_records
from ecglm_cli.errors import RecordError

_LEAD_PATTERN = re.compile(r"\blead (I{1,3}|aV[RLF]|V[1-6])\b")


@dataclass(frozen=True)
class Template:
    """One ECG-QA question template for a single ECG."""

    template_id: int
    question_type: str
    attribute_type: str
    kind: str
    template: str
    paraphrases: tuple[str, ...]
    answers: tuple[str, ...]
    verbatim: bool

    @property
    def wordings(self) -> tuple[str, ...]:
        return (self.template, *[p for p in self.paraphrases if p != self.template])


@lru_cache(maxsize=1)
def packaged_templates() -> dict[int, Template]:
    """The templates shipped in the package (ecgqa_templates.json), keyed by template id."""
    text = resources.files("ecglm_cli.knowledge").joinpath("ecgqa_templates.json").read_text(
        "utf-8"
    )
    out: dict[int, Template] = {}
    for entry in json.loads(text)["templates"]:
        entry = {**entry, "paraphrases": tuple(entry["paraphrases"]),
                 "answers": tuple(entry["answers"])}
        out[int(entry["template_id"])] = Template(**entry)
    return out


def read_answer_classes(path: str | Path) -> dict[int, tuple[str, ...]]:
    """answers_for_each_template.csv -> {template_id: answer classes}."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # Excel adds a BOM
            return {
                int(row["template_id"]): tuple(ast.literal_eval(row["classes"]))
                for row in csv.DictReader(handle)
            }
    except OSError as exc:
        problem = f"cannot read ECG-QA answer classes: {exc.strerror or exc}"
        raise RecordError(path, problem) from exc
    except (KeyError, ValueError, SyntaxError) as exc:
        raise RecordError(path, "not an ECG-QA answers_for_each_template.csv") from exc


def abstract_question(question: str, attributes: list[str], constant: bool) -> str:
    """Turn a filled ECG-QA question back into a template: attributes and leads -> placeholders."""
    text = question
    if not constant:
        if len(attributes) == 1:
            text = text.replace(attributes[0], "${attribute}")
        else:
            for i, value in enumerate(attributes, start=1):
                text = text.replace(value, f"${{attribute{i}}}", 1)
    return _LEAD_PATTERN.sub("${lead}", text)


def derive_templates(ecgqa_dir: str | Path) -> dict[int, Template]:
    """Templates for the single-ECG types found in an ECG-QA folder (template/ + paraphrased/).

    Ids the folder covers get their wording and paraphrases from the data; the kind (how to
    answer) and any id the folder lacks come from the packaged copy, so the result is always
    complete. Answer classes come from answers_for_each_template.csv when present.
    """
    root = Path(ecgqa_dir)
    packaged = packaged_templates()
    answers_csv = root / "answers_for_each_template.csv"
    classes = read_answer_classes(answers_csv) if answers_csv.is_file() else {}
    attribute_values: dict[int, set[str]] = {}
    canonical: dict[int, list[str]] = {}
    paraphrased: dict[int, list[str]] = {}
    for folder, sink in (("template", canonical), ("paraphrased", paraphrased)):
        if not (root / folder).is_dir():
            continue
        collected: list[dict] = [
            rec for rec in iter_json_records(root / folder)
            if rec.get("question_type") in SINGLE_TYPES and int(rec["template_id"]) in packaged
        ]
        for rec in collected:
            attribute_values.setdefault(int(rec["template_id"]), set()).add(
                "|".join(rec.get("attribute") or [])
            )
        for rec in collected:
            tid = int(rec["template_id"])
            constant = len(attribute_values[tid]) == 1
            wording = abstract_question(rec["question"], list(rec.get("attribute") or []), constant)
            if wording not in sink.setdefault(tid, []):
                sink[tid].append(wording)
    out = dict(packaged)
    for tid, base in packaged.items():
        wordings = canonical.get(tid, [])
        extra = paraphrased.get(tid, [])
        if not wordings and not extra:
            continue
        template = wordings[0] if wordings else base.template
        out[tid] = replace(
            base,
            template=template,
            paraphrases=tuple(w for w in extra if w != template) or base.paraphrases,
            answers=classes.get(tid, base.answers),
            verbatim=True,
        )
    return out


def load_templates(ecgqa_dir: str | Path | None = None) -> dict[int, Template]:
    """Derived from ``ecgqa_dir`` when given, else the packaged copy."""
    return derive_templates(ecgqa_dir) if ecgqa_dir else packaged_templates()
