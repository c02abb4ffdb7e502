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


LM_SPACES = ("diagnostic", "rhythm", "form")


def evaluate_lm_detection(
    model: str, root, folds: tuple[int, ...], leads: list[str], limit: int | None = None,
    llm: str | None = None, progress=None,
):
    """`evaluate --via lm`: macro F1 (P(yes) >= 0.5), AUC and Fmax of LM detection per space."""
    from ecglm_cli.data.ptbxl import PTBXL
    from ecglm_cli.errors import RecordError
    from ecglm_cli.models.metrics import space_report
    from ecglm_cli.pipeline.ask import Asker
    from ecglm_cli.pipeline.evaluate import EvaluationResult

    asker = Asker(model, llm)
    ds = PTBXL(root)
    spaces = [s for s in LM_SPACES if s in ds.label_spaces]
    codes = {s: ds.label_spaces[s].labels for s in spaces}
    every = sorted({c for s in spaces for c in codes[s]})
    scores: dict[str, list[np.ndarray]] = {s: [] for s in spaces}
    truth: dict[str, list[np.ndarray]] = {s: [] for s in spaces}
    for entry in ds.select(folds, limit):
        try:
            feats = asker.features(ds.record(entry), leads)
        except RecordError as exc:
            ds.skipped[entry.ecg_id] = exc.problem
            continue
        p = dict(zip(every, yes_probabilities(asker, feats, every), strict=True))
        labels = ds.labels(entry)
        for s in spaces:
            scores[s].append(np.array([p[c] for c in codes[s]]))
            truth[s].append(labels[s])
        if progress:
            progress(1)
    if not any(truth.values()):
        raise RecordError(root, f"no readable records in fold(s) {', '.join(map(str, folds))}")
    rows = []
    for s in spaces:
        y, score = np.stack(truth[s]), np.stack(scores[s])
        rows.append({"space": s, "via": "lm",
                     **space_report(y, score, np.full(y.shape[1], 0.5))})
    return EvaluationResult(rows, [], dict(ds.skipped))


def lm_findings(asker, record, leads: list[str] | None = None,
                spaces: tuple[str, ...] = LM_SPACES) -> dict:
    """`classify --via lm`: P(yes) of the LM's verify answer for every statement of `spaces`,
    with the decision at P(yes) >= 0.5 (the LM's own answer), grouped like the head findings."""
    feats = asker.features(record, leads)
    label_spaces = asker.bundle.label_spaces
    spaces = tuple(s for s in spaces if s in label_spaces)
    every = sorted({c for s in spaces for c in label_spaces[s]["labels"]})
    p_yes = dict(zip(every, yes_probabilities(asker, feats, every), strict=True))
    findings, probabilities = {}, {}
    for space in spaces:
        described = label_spaces[space].get("descriptions", {})
        codes = label_spaces[space]["labels"]
        probabilities[space] = {c: round(float(p_yes[c]), 4) for c in codes}
        findings[space] = [
            {"code": c, "description": described.get(c, c), "p_yes": round(float(p_yes[c]), 4),
             "positive": True}
            for c in sorted(codes, key=lambda c: -p_yes[c]) if p_yes[c] >= 0.5
        ]
    return {"via": "lm", "llm": asker.llm_name, "leads_used": feats.leads,
            "findings": findings, "probabilities": probabilities}
