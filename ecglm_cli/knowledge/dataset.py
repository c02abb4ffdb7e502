"""Build the language model's training items from PTB-XL labels (and, optionally, ECG-QA).

Each item is a dict ``{ecg_id, question, answer_text, answer, question_type, kind, template_id}``:

* ``kind="qa"``: an ECG-QA single-ECG question; ``answer`` is ECG-QA's exact answer list and
  ``answer_text`` starts with it (``"yes. Complete right bundle branch block: ..."``). Verify
  questions about the statements ECG-QA never names (NORM, WPW, ...) come in this shape too,
  with ``template_id`` None;
* ``kind="report"``: "Describe this ECG."-style prompt, ``answer_text`` is the report;
* ``kind="unanswerable"``: a question no ECG can answer, declined in ``answer_text``;
* ``kind="measurement"``: with ``measurements``, a question about a measured value.

Randomness is seeded per record (``seed`` and ``ecg_id``), so a record's items do not depend on
which other records are present or in what order they are read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path

from ecglm_cli.data.ecgqa import ptbxl_record_exists
from ecglm_cli.data.ptbxl_table import read_label_rows
from ecglm_cli.knowledge.synthesize import (
    CANNOT_DETERMINE,
    REPORT_PROMPTS,
    explain,
    measurement_questions,
    report,
    synthesize_qa,
    unanswerable_questions,
    unnamed_statement_questions,
)
from ecglm_cli.knowledge.templates import load_templates

TRAIN_FOLDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
VAL_FOLDS: tuple[int, ...] = (9,)
Measurements = Callable[[int], "dict | None"]


def record_items(
    row: dict,
    *,
    seed: int = 0,
    templates: dict | None = None,
    measurements: dict | None = None,
    questions_per_template: int = 1,
    reports: int = 1,
    unanswerable: int = 1,
) -> list[dict]:
    """All training items for one PTB-XL row."""
    ecg_id = int(row["ecg_id"])
    rng = random.Random(f"{seed}:{ecg_id}")
    questions = synthesize_qa(row, templates=templates, rng=rng, measurements=measurements,
                              per_template=questions_per_template)
    questions += unnamed_statement_questions(row, rng)
    items: list[dict] = [{
        "ecg_id": ecg_id,
        "question": record["question"],
        "answer_text": explain(record, measurements),
        "answer": record["answer"],
        "question_type": record["question_type"],
        "kind": "qa",
        "template_id": record.get("template_id"),
    } for record in questions]
    text = report(row, measurements)
    for prompt in rng.sample(REPORT_PROMPTS, k=min(reports, len(REPORT_PROMPTS))):
        items.append({"ecg_id": ecg_id, "question": prompt, "answer_text": text, "answer": [],
                      "question_type": "report", "kind": "report", "template_id": None})
    for record in measurement_questions(measurements, rng):
        items.append({"ecg_id": ecg_id, "question": record["question"],
                      "answer_text": "; ".join(record["answer"]), "answer": record["answer"],
                      "question_type": "measurement", "kind": "measurement",
                      "template_id": None})
    for question, answer_text in unanswerable_questions(rng, unanswerable):
        items.append({"ecg_id": ecg_id, "question": question, "answer_text": answer_text,
                      "answer": [CANNOT_DETERMINE], "question_type": "unanswerable",
                      "kind": "unanswerable", "template_id": None})
    return items


def build_training_set(
    ptbxl_dir: str | Path,
    folds: Iterable[int] = TRAIN_FOLDS,
    *,
    seed: int = 0,
    ecgqa_dir: str | Path | None = None,
    measurements: Measurements | None = None,
    require_signal: bool = True,
    questions_per_template: int = 1,
    reports: int = 1,
    unanswerable: int = 1,
) -> list[dict]:
    """Items for every PTB-XL row in ``folds`` (rows without a local record are left out).

    ``ecgqa_dir`` takes the question wordings from an ECG-QA folder; ``measurements`` maps an
    ecg_id to its measured intervals (or None) for the reports.
    """
    root = Path(ptbxl_dir)
    wanted = set(folds)
    templates = load_templates(ecgqa_dir)
    items: list[dict] = []
    for ecg_id, row in sorted(read_label_rows(root).items()):
        if row["strat_fold"] not in wanted:
            continue
        if require_signal and not ptbxl_record_exists(root, ecg_id):
            continue
        items += record_items(
            row, seed=seed, templates=templates,
            measurements=measurements(ecg_id) if measurements else None,
            questions_per_template=questions_per_template, reports=reports,
            unanswerable=unanswerable,
        )
    return items


def build_splits(
    ptbxl_dir: str | Path,
    train_folds: Iterable[int] = TRAIN_FOLDS,
    val_folds: Iterable[int] = VAL_FOLDS,
    **options,
) -> dict[str, list[dict]]:
    """``{"train": ..., "val": ...}`` with the default PTB-XL folds 1-8 and 9."""
    return {
        "train": build_training_set(ptbxl_dir, train_folds, **options),
        "val": build_training_set(ptbxl_dir, val_folds, **options),
    }


def ecgqa_items(questions: Iterable[dict]) -> list[dict]:
    """Official ECG-QA single-ECG questions (already filtered to local records) as items."""
    return [
        {
            "ecg_id": q["ecg_id"][0],
            "question": q["question"],
            "answer_text": "; ".join(q["answer"]) + ".",
            "answer": list(q["answer"]),
            "question_type": q["question_type"],
            "kind": "qa",
            "template_id": q["template_id"],
        }
        for q in questions
        if len(q["ecg_id"]) == 1
    ]
