"""One question about one ECG, answered by the bundle's language model reading the encoder.

The answer is whatever the LM generates (greedy, so the same input gives the same text). The
evidence added for `--format json` is read off afterwards: the classifier-head probabilities of
the statements that the question or the answer names, and the measured values
(`features.measure`). An LM trained with measured values (`measured` in its `ecglm.json`) also
reads them in its prompt; for any other LM they never change the answer, so a text answer skips
measuring (it needs scipy.signal, about a second to import) unless the question is about the
axis, whose note compares the answer with the measured axis, or asks for a rate or interval,
whose note gives the measured value (`answer_notes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from ecglm_cli.io.record import ECGRecord
from ecglm_cli.models.bundle import DEFAULT_BUNDLE, load_bundle
from ecglm_cli.models.ecglm import BUNDLED_LM_DIR, read_lm_thresholds
from ecglm_cli.pipeline.answer_notes import (
    axis_note,
    cut_short_note,
    disagreement_note,
    lead_notes,
    likelihood_note,
    measured_claim_note,
    needs_measurements,
    no_pr_note,
    reversal_note,
    unmeasured_note,
)
from ecglm_cli.pipeline.ecg_features import (
    RecordFeatures,
    feature_statements,
    measured_values,
    record_features,
)


@dataclass
class Answer:
    question: str
    answer: str
    model: str
    llm: str
    leads: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # where the answer is not backed up

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "answer": self.answer, "model": self.model,
            "llm": self.llm, "leads": self.leads, "evidence": self.evidence,
            "notes": self.notes,
        }


def named_statements(text: str) -> list[str]:
    """SCP codes that `text` names: by readable or ECG-QA name, by an alias ("ST elevation",
    "LBBB"), or by code, as whole words ("pac" in "pacemaker" is not PAC), and not only inside
    a longer name ("left bundle branch block" in "incomplete left bundle branch block")."""
    from ecglm_cli.knowledge.statements import load_statements

    lowered = text.lower()
    spans: dict[str, list[tuple[int, int]]] = {}
    for code, statement in load_statements().items():
        for name in (statement.name, statement.ecgqa_name, *statement.aliases, code):
            if name:
                pattern = rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])"
                spans.setdefault(code, []).extend(m.span() for m in re.finditer(pattern, lowered))
    every = [(code, span) for code, found in spans.items() for span in found]
    return [
        code for code, found in spans.items()
        if any(not any(other != code and a <= start and end <= b and (a, b) != (start, end)
                       for other, (a, b) in every) for start, end in found)
    ]


class Asker:
    """A loaded bundle and LM, reused across questions (for `ask`, `evaluate qa`, detection)."""

    def __init__(self, model: str = DEFAULT_BUNDLE, llm: str | None = None,
                 device: str = "cpu"):
        self.bundle = load_bundle(model)
        self.lm = self.bundle.language_model(llm)
        self.bundle.model.to(device)
        self.lm.to(device)
        self.statements = feature_statements(self.bundle)
        self.thresholds = (dict(zip(self.bundle.labels("all"), self.bundle.thresholds["all"]
                                    .tolist(), strict=True))
                           if "all" in self.bundle.label_spaces else {})
        self.model_name = str(model)
        self.llm_name = "compact" if self.lm.lm_ref == BUNDLED_LM_DIR else self.lm.lm_ref
        self._last: tuple[ECGRecord, list[str] | None, RecordFeatures] | None = None

    @cached_property
    def lm_thresholds(self) -> dict[str, float]:
        """LM detection's cuts, if any: read when detection asks (a broken file broke `ask`,
        which never uses them, 13 s in)."""
        return read_lm_thresholds(self.bundle.path)

    def features(self, record: ECGRecord, leads: list[str] | None = None) -> RecordFeatures:
        return record_features(self.bundle, record, leads, measured=self.lm.measured)

    def _record_features(self, record: ECGRecord, leads: list[str] | None) -> RecordFeatures:
        """The features of the record asked about last time again, when it is asked again:
        `ask REC Q1 Q2 Q3` encodes (and measures) it once, not once per question."""
        if self._last is None or self._last[0] is not record or self._last[1] != leads:
            self._last = (record, leads, self.features(record, leads))
        return self._last[2]

    def answer_batch(
        self, questions: list[str], features: list[RecordFeatures], max_new_tokens: int = 64,
        on_token: Callable[[int], None] | None = None,
    ) -> list[str]:
        tokens = torch.stack([f.tokens for f in features])
        logits = torch.stack([f.logits for f in features])
        return self.lm.generate(questions, tokens, logits, max_new_tokens, on_token,
                                [f.context for f in features])

    def ask(
        self, record: ECGRecord, question: str, leads: list[str] | None = None,
        max_new_tokens: int = 64, on_text: Callable[[str], None] | None = None,
        evidence: bool = True,
    ) -> Answer:
        """Answer one question; `on_text` receives the answer piece by piece as it is generated.

        With `evidence` false the answer comes without its `evidence` (its notes come always).
        """
        feats = self._record_features(record, leads)
        generated: list[int] = []
        stream = _text_stream(self.lm.tokenizer, on_text) if on_text else None

        def on_token(token: int) -> None:
            generated.append(token)
            if stream:
                stream(token)

        text = self.answer_batch([question], [feats], max_new_tokens, on_token)[0]
        answer = Answer(question, text, self.model_name, self.llm_name, feats.leads)
        if feats.measurements is None and (evidence or needs_measurements(question)):
            feats.measurements = measured_values(record, leads)[0]  # not read by this LM
        measurements = feats.measurements
        answer.notes = self._notes(question, text, feats, measurements,
                                   complete=self.lm.tokenizer.eos_token_id in generated)
        if evidence:
            answer.evidence = self._evidence(feats, question + " " + text, measurements)
        return answer

    def _notes(self, question: str, text: str, feats: RecordFeatures,
               measurements: dict | None, complete: bool) -> list[str]:
        probabilities = {name.removeprefix("all:"): p
                         for name, p in feats.probabilities(self.statements).items()
                         if name.startswith("all:")}
        no_pr = no_pr_note(question, probabilities, self.thresholds)
        judged = measurements  # a PR measured in AF or flutter does not judge the answer
        if no_pr and measurements:
            judged = {key: v for key, v in measurements.items() if key != "pr_interval"}
        single = (
            disagreement_note(question, text, named_statements(question), probabilities,
                              self.thresholds),
            axis_note(question, text, measurements),
            reversal_note(question, measurements),
            measured_claim_note(question, text, judged),
            unmeasured_note(question, self.lm.measured, measurements),
            no_pr,
            likelihood_note(text),
            cut_short_note(complete),
        )
        return [*lead_notes(question, feats.leads), *(note for note in single if note)]

    def _evidence(self, feats: RecordFeatures, text: str,
                  measurements: dict | None) -> dict[str, Any]:
        """Head probabilities of the statements `text` names, and the measured values."""
        probabilities = feats.probabilities(self.statements)
        return {
            "statements": {
                code: round(probabilities[f"all:{code}"], 4)
                for code in named_statements(text) if f"all:{code}" in probabilities
            },
            "measurements": measurements,
        }


def _text_stream(tokenizer, on_text: Callable[[str], None]) -> Callable[[int], None]:
    """Turn token ids into text deltas: decode the whole answer so far, emit what is new."""
    ids: list[int] = []
    shown = [""]

    def on_token(token: int) -> None:
        ids.append(token)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
            return
        if len(text) > len(shown[0]):
            on_text(text[len(shown[0]):].lstrip() if not shown[0] else text[len(shown[0]):])
            shown[0] = text

    return on_token
