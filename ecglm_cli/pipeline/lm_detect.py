"""LM-based detection: ask the ECG language model a verify question per statement.

This is the paper's zero-shot-style use of the LM: for every statement the LM is asked "Does
this ECG show symptoms of X?" (ECG-QA's verify wording) and the yes-probability is read from the
logits of the first answer token, renormalised over the answers it was taught (yes, no, not sure).
"""

from __future__ import annotations

import numpy as np
import torch

from ecglm_cli.errors import ModelError

VERIFY = "Does this ECG show symptoms of {}?"
ANSWER_WORDS = ("yes", "no", "not sure")


def statement_question(code: str) -> str:
    """The verify question for one SCP code, named as ECG-QA names it where it can."""
    from ecglm_cli.knowledge.statements import load_statements

    statement = load_statements().get(code)
    if statement is None:
        return VERIFY.format(code)
    return VERIFY.format(statement.ecgqa_name or statement.name)


def _first_token_ids(tokenizer) -> list[int]:
    ids = []
    for word in ANSWER_WORDS:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not pieces:
            raise ModelError(f"the LM's tokenizer cannot encode {word!r}")
        ids.append(pieces[0])
    if len(set(ids[:2])) < 2:
        raise ModelError("the LM's tokenizer gives 'yes' and 'no' the same first token")
    return ids


def yes_probabilities(asker, features, codes: list[str], batch_size: int = 64) -> np.ndarray:
    """P(yes) for each statement in `codes`, for one record's features: `[len(codes)]`."""
    model = asker.lm
    word_ids = _first_token_ids(model.tokenizer)
    if word_ids[2] in word_ids[:2]:  # "not sure" shares a first token with yes/no: ignore it
        word_ids = word_ids[:2]
    out = []
    for start in range(0, len(codes), batch_size):
        chunk = codes[start:start + batch_size]
        tokens = features.tokens.unsqueeze(0).expand(len(chunk), -1, -1)
        logits = features.logits.unsqueeze(0).expand(len(chunk), -1)
        next_logits = model.next_token_logits([statement_question(c) for c in chunk],
                                              tokens, logits)
        probs = torch.softmax(next_logits[:, word_ids], dim=-1)
        out.append(probs[:, 0].cpu().numpy())
    return np.concatenate(out)
