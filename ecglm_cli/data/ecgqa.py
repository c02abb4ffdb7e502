"""Read the official ECG-QA JSON (template/ and paraphrased/ folders) and score answers.

ECG-QA stores a list of question records per JSON chunk, each with ``question``, ``answer``
(a list), ``question_type``, ``ecg_id`` (a list of PTB-XL ids), ``attribute_type``,
``attribute``, ``template_id``, ``question_id`` and ``sample_id``. Its metric is exact match of
the answer set (order does not matter), reported per question type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecglm_cli.errors import RecordError

SINGLE_TYPES: tuple[str, ...] = ("single-verify", "single-choose", "single-query")
QUESTION_TYPES: tuple[str, ...] = (
    *SINGLE_TYPES,
    "comparison_consecutive-verify", "comparison_consecutive-query",
    "comparison_irrelevant-verify", "comparison_irrelevant-query",
)
ATTRIBUTE_TYPES: tuple[str, ...] = (
    "scp_code", "noise", "stage_of_infarction", "extra_systole", "heart_axis", "numeric_feature",
)
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "template_id": int, "question_type": str, "attribute_type": str, "question": str,
    "answer": list, "ecg_id": list,
}


def validation_errors(record: object) -> list[str]:
    """Why ``record`` is not a valid ECG-QA question (empty list when it is)."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    errors = [f"missing {key}" for key in REQUIRED_FIELDS if key not in record]
    for key, kind in REQUIRED_FIELDS.items():
        if key in record and not (_is_int(record[key]) if kind is int
                                  else isinstance(record[key], kind)):
            errors.append(f"{key} is not {getattr(kind, '__name__', kind)}")
    if errors:
        return errors
    if not record["question"].strip():  # `ask` refuses one; training learnt from it
        errors.append("question is empty")
    if record["question_type"] not in QUESTION_TYPES:
        errors.append(f"unknown question_type {record['question_type']!r}")
    if record["attribute_type"] not in ATTRIBUTE_TYPES:
        errors.append(f"unknown attribute_type {record['attribute_type']!r}")
    if not record["answer"] or not all(isinstance(a, str) and a for a in record["answer"]):
        errors.append("answer must be a non-empty list of strings")
    wanted = 1 if record["question_type"].startswith("single") else 2
    if len(record["ecg_id"]) != wanted or not all(_is_int(i) for i in record["ecg_id"]):
        errors.append(f"ecg_id must be a list of {wanted} integer id(s)")
    attribute = record.get("attribute")
    if attribute is not None and not (
        isinstance(attribute, list) and all(isinstance(a, str) for a in attribute)
    ):
        errors.append("attribute must be null or a list of strings")
    for key in ("question_id", "sample_id"):
        if record.get(key) is not None and not _is_int(record[key]):
            errors.append(f"{key} must be an integer")
    return errors


def _is_int(value: object) -> bool:
    """A JSON integer: `true` would pass isinstance(value, int) and be read as ECG 1."""
    return isinstance(value, int) and not isinstance(value, bool)


def json_files(path: str | Path) -> list[Path]:
    """One JSON file, or every ``*.json`` under a folder (sorted, recursive)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not files:
            raise RecordError(path, "no ECG-QA .json files in this folder")
        return files
    if path.exists():  # reading a FIFO or a device would wait for a writer, or never end
        raise RecordError(path, "not a regular file or folder (a pipe or device cannot be read "
                          "as ECG-QA JSON)")
    raise RecordError(path, "no such ECG-QA file or folder")


ECGQA_WORDINGS = ("template", "paraphrased")
ECGQA_SPLITS = ("train", "valid", "test")


def mixed_sets(path: str | Path) -> str | None:
    """What a folder of ECG-QA files mixes, if anything: both wordings (template/ and
    paraphrased/ hold the same questions, so each is counted twice) or several splits. Said,
    not refused: `--ecgqa ecgqa/ptbxl` scored 414 questions where template/train has 207."""
    files = json_files(path) if Path(path).is_dir() else []
    parts = {part for file in files for part in file.relative_to(path).parts[:-1]}
    mixed = [f"{' and '.join(f'{name}/' for name in found)} ({why})"
             for names, why in ((ECGQA_WORDINGS, "the same questions, worded twice"),
                                (ECGQA_SPLITS, "several splits"))
             if len(found := [name for name in names if name in parts]) > 1]
    return "; ".join(mixed) or None


def iter_json_records(path: str | Path) -> Iterator[dict]:
    """Every question record in a file or folder, checked for ECG-QA shape."""
    for file in json_files(path):
        try:
            data = json.loads(file.read_text(encoding="utf-8-sig"))  # a BOM is not refused
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(file, f"not readable ECG-QA JSON: {exc}") from exc
        except RecursionError:
            raise RecordError(file, "not readable ECG-QA JSON: nested too deeply") from None
        except ValueError as exc:  # the only other one: an integer of thousands of digits
            # its message ends in advice for Python programmers (sys.set_int_max_str_digits)
            reason = str(exc).split(";", 1)[0]
            raise RecordError(file, f"not readable ECG-QA JSON: {reason}") from exc
        if not isinstance(data, list):
            raise RecordError(file, "ECG-QA JSON must hold a list of question records")
        for index, record in enumerate(data):
            errors = validation_errors(record)
            if errors:
                raise RecordError(file, f"record {index}: {'; '.join(errors)}")
            yield record


def ptbxl_record_exists(ptbxl_dir: Path, ecg_id: int) -> bool:
    """Whether PTB-XL's 100 Hz or 500 Hz record for ``ecg_id`` is in ``ptbxl_dir``. An id of
    hundreds of digits makes a file name too long to look up (an OSError that named a PTB-XL
    path, not the question file): no such record."""
    folder = f"{ecg_id // 1000 * 1000:05d}"
    try:
        return (ptbxl_dir / "records100" / folder / f"{ecg_id:05d}_lr.hea").is_file() or (
            ptbxl_dir / "records500" / folder / f"{ecg_id:05d}_hr.hea"
        ).is_file()
    except OSError:
        return False


@dataclass
class LoadedQuestions:
    """Questions kept, and how many were left out and why."""

    questions: list[dict] = field(default_factory=list)
    skipped_absent: int = 0  # an ECG it refers to is not in the PTB-XL folder
    skipped_type: int = 0  # not a single-ECG type while single_only was asked


def load_ecgqa(
    path: str | Path, *, single_only: bool = False, ptbxl_dir: str | Path | None = None
) -> LoadedQuestions:
    """Load ECG-QA questions from a JSON file or folder.

    ``single_only`` keeps single-verify/choose/query; ``ptbxl_dir`` keeps only questions whose
    ECGs exist there and counts the rest in ``skipped_absent``.
    """
    result = LoadedQuestions()
    root = Path(ptbxl_dir) if ptbxl_dir is not None else None
    if root is not None and not root.is_dir():
        raise RecordError(root, "PTB-XL folder not found")
    present: dict[int, bool] = {}
    for record in iter_json_records(path):
        if single_only and record["question_type"] not in SINGLE_TYPES:
            result.skipped_type += 1
            continue
        if root is not None:
            ids = record["ecg_id"]
            for ecg_id in ids:
                if ecg_id not in present:
                    present[ecg_id] = ptbxl_record_exists(root, ecg_id)
            if not all(present[i] for i in ids):
                result.skipped_absent += 1
                continue
        result.questions.append(record)
    return result


def normalise_answer(answer: str | Iterable[str]) -> frozenset[str]:
    """An answer as ECG-QA compares it: a set of lower-cased, trimmed strings."""
    items = [answer] if isinstance(answer, str) else list(answer)
    return frozenset(str(a).strip().lower() for a in items if str(a).strip())


def is_correct(predicted: str | Iterable[str], answer: str | Iterable[str]) -> bool:
    """ECG-QA's exact match: the same answer set, ignoring case, spacing and order."""
    return normalise_answer(predicted) == normalise_answer(answer)


def score(
    predictions: Sequence[str | Iterable[str]] | Mapping[int, str | Iterable[str]],
    questions: Sequence[dict],
) -> dict:
    """ECG-QA's metric: exact match of the answer set, overall, per ``question_type`` and per
    ``template_id``.

    ``predictions`` is aligned with ``questions`` (a sequence) or keyed by ``sample_id`` (a
    mapping); a question without a prediction counts as wrong.
    """
    if not isinstance(predictions, Mapping) and len(predictions) != len(questions):
        raise ValueError(f"{len(predictions)} predictions for {len(questions)} questions")
    per_type: dict[str, dict[str, float]] = {}
    per_template: dict[int, dict[str, float]] = {}
    correct_total = 0
    for index, question in enumerate(questions):
        if isinstance(predictions, Mapping):
            predicted = predictions.get(question.get("sample_id"))
        else:
            predicted = predictions[index]
        hit = predicted is not None and is_correct(predicted, question["answer"])
        for bucket in (
            per_type.setdefault(question["question_type"], {"n": 0, "correct": 0}),
            per_template.setdefault(question["template_id"], {
                "n": 0, "correct": 0, "question_type": question["question_type"]}),
        ):
            bucket["n"] += 1
            bucket["correct"] += int(hit)
        correct_total += int(hit)
    for bucket in [*per_type.values(), *per_template.values()]:
        bucket["accuracy"] = bucket["correct"] / bucket["n"]
    return {
        "n": len(questions),
        "correct": correct_total,
        "accuracy": correct_total / len(questions) if questions else None,  # none answered
        "per_type": dict(sorted(per_type.items())),
        "per_template": dict(sorted(per_template.items())),
    }
