"""Question-answer text as LM training rows: prompt ids, target ids, and the record they are about.

The target is the answer text followed by the end-of-sequence token; only target tokens carry a
loss. ECG-QA answer lists are joined with `ANSWER_SEPARATOR` in the order given, which the
synthesizer keeps canonical, so the LM learns one spelling for each answer set.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ecglm_cli.models.ecglm import ANSWER_SEPARATOR, build_prompt

IGNORE = -100


@dataclass
class QAExample:
    """One training text about one record: an instruction or question and its answer."""

    ecg_id: int
    question: str
    answer: str
    question_type: str = ""


def answer_text(answer: str | Sequence[str]) -> str:
    """ECG-QA's answer list as the one string the LM learns to write."""
    if isinstance(answer, str):
        return answer
    return ANSWER_SEPARATOR.join(str(a) for a in answer)


def parse_answer(text: str) -> list[str]:
    """The answer set in a generated answer (the inverse of `answer_text`)."""
    return [part.strip() for part in text.strip().split(ANSWER_SEPARATOR.strip()) if part.strip()]


@dataclass
class EncodedExample:
    ecg_id: int
    input_ids: list[int]
    prompt_len: int


def encode_examples(
    tokenizer, examples: list[QAExample], n_features: int, max_len: int,
    contexts: dict[int, str] | None = None,
) -> list[EncodedExample]:
    """Token ids for prompt + answer + EOS; answers longer than `max_len` allows are cut.

    `contexts` gives each record's measured-values line, for an LM that reads them.
    """
    if not examples:  # the tokenizer fails on an empty batch (`--val-questions 0`)
        return []
    contexts = contexts or {}
    keys = [(contexts.get(e.ecg_id, ""), e.question) for e in examples]
    prompts = dict.fromkeys(keys)
    prompt_ids = dict(zip(prompts, tokenizer(
        [build_prompt(tokenizer, q, n_features, c) for c, q in prompts], add_special_tokens=False
    )["input_ids"], strict=True))
    answers = tokenizer([e.answer for e in examples], add_special_tokens=False)["input_ids"]
    encoded = []
    for key, example, answer in zip(keys, examples, answers, strict=True):
        prompt = prompt_ids[key]
        ids = (prompt + answer)[: max_len - 1] + [tokenizer.eos_token_id]
        if len(prompt) < max_len - 1:
            encoded.append(EncodedExample(example.ecg_id, ids, len(prompt)))
    return encoded


def batches(
    examples: list[EncodedExample], batch_size: int, rng: random.Random
) -> list[list[EncodedExample]]:
    """Shuffled batches of similar length (less padding), in random order."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].input_ids), rng.random()))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return [[examples[i] for i in chunk] for chunk in chunks]


def collate(batch: list[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask, and labels with the prompt and padding ignored."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        attention[row, :n] = 1
        labels[row, e.prompt_len:n] = ids[row, e.prompt_len:n]
    return {"input_ids": ids, "attention_mask": attention, "labels": labels}
