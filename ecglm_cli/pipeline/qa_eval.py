"""`evaluate qa`: ECG-QA accuracy of an answerer, per question type, with ECG-QA's own metric.

Single-ECG questions are answered; comparison questions (two ECGs) and questions whose ECG is not
in the PTB-XL folder are counted as skipped. Each record's features are computed once and its
questions answered in batches. Generated answers become answer sets by splitting on
`ANSWER_SEPARATOR`, the same way training joined them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ecglm_cli.data.ecgqa import LoadedQuestions, load_ecgqa, score
from ecglm_cli.data.ptbxl import PTBXL
from ecglm_cli.errors import QuestionError, RecordError
from ecglm_cli.train.lm_data import parse_answer


class QAAnswerer(Protocol):
    """What evaluation needs: features of a record, and answers to questions about them."""

    def features(self, record: Any, leads: list[str] | None = None) -> Any: ...

    def answer_batch(self, questions: list[str], features: list[Any],
                     max_new_tokens: int = 64) -> list[str]: ...


def load_questions(ecgqa: str | Path, ptbxl_dir: str | Path, limit: int | None = None):
    """The single-ECG questions whose record is in `ptbxl_dir` (at most `limit`), and the rest
    counted as skipped."""
    loaded = load_ecgqa(ecgqa, single_only=True, ptbxl_dir=ptbxl_dir)
    if limit:
        loaded.questions = loaded.questions[:limit]
    return loaded


def answer_key(question: dict) -> str:
    """What identifies a question across runs: its sample_id, record and wording together.
    `sample_id` alone may be missing, and ECG-QA's template/ and paraphrased/ folders share
    every one of theirs (one stored answer was reused for another question)."""
    return json.dumps([question.get(key) for key in ("sample_id", "ecg_id", "question")])


def evaluate_qa(
    answerer: QAAnswerer,
    loaded: LoadedQuestions,
    ptbxl_dir: str | Path,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    on_answer: Callable[[dict, list[str]], None] | None = None,
    known: dict[Any, list[str]] | None = None,
) -> dict[str, Any]:
    """Score `answerer` on loaded questions; each record's features are computed once.

    `on_answer(question, predicted_set)` sees every answer as it comes, so a caller can keep
    them (`evaluate qa --predictions`) even if the run is cut short. `known` holds answers an
    earlier run gave, by `answer_key`: those questions are scored without being asked again.
    """
    questions = loaded.questions
    ptbxl = PTBXL(ptbxl_dir)
    entries = {entry.ecg_id: entry for entry in ptbxl.entries}
    known = known or {}
    predictions: list[list[str] | None] = [known.get(answer_key(q)) for q in questions]
    by_record: dict[int, list[int]] = {}
    for index, question in enumerate(questions):
        if predictions[index] is None:
            by_record.setdefault(question["ecg_id"][0], []).append(index)
    kept = sum(p is not None for p in predictions)
    if progress and kept:
        progress(kept)
    unreadable = too_long = unlisted = 0
    for ecg_id, indices in by_record.items():
        if ecg_id not in entries:  # its file may be there, but the dataset given lacks it
            unlisted += len(indices)
        else:
            try:
                feats = answerer.features(ptbxl.record(entries[ecg_id]))
            except RecordError:
                unreadable += len(indices)
            else:
                too_long += _answer_record(answerer, questions, indices, feats, predictions,
                                           batch_size, on_answer)
        if progress:  # skipped ones too: the bar reached its end only when all were read
            progress(len(indices))
    answered = [i for i, p in enumerate(predictions) if p is not None]
    result = score([predictions[i] for i in answered], [questions[i] for i in answered])
    result["skipped_absent"] = loaded.skipped_absent + unlisted
    result["skipped_unreadable"] = unreadable
    result["skipped_comparison"] = loaded.skipped_type
    result["skipped_too_long"] = too_long
    return result


def _answer_record(answerer: QAAnswerer, questions: list[dict], indices: list[int], feats: Any,
                   predictions: list, batch_size: int,
                   on_answer: Callable[[dict, list[str]], None] | None) -> int:
    """Answer the questions at `indices`, all about one record, into `predictions`; returns
    how many were too long for the LM."""
    too_long = 0
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        for i, text in zip(chunk, _answers(answerer, [questions[i] for i in chunk], feats),
                           strict=True):
            if text is None:
                too_long += 1
                continue
            predictions[i] = parse_answer(text)
            if on_answer:
                on_answer(questions[i], predictions[i])
    return too_long


def _answers(answerer: QAAnswerer, questions: list[dict], feats: Any) -> list[str | None]:
    """Answers to questions about one record; None for a question too long for the LM.

    A batch holding such a question is answered again one question at a time, so one
    oversized question in a file costs only itself.
    """
    texts = [q["question"] for q in questions]
    try:
        return answerer.answer_batch(texts, [feats] * len(texts))
    except QuestionError:
        if len(texts) == 1:
            return [None]
    return [_answers(answerer, [q], feats)[0] for q in questions]
