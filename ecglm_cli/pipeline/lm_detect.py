"""LM-based detection: ask the ECG language model a verify question per statement.

This is the paper's zero-shot-style use of the LM: for every statement the LM is asked "Does
this ECG show symptoms of X?" (ECG-QA's verify wording) and the yes-probability is read from the
logits of the first answer token, renormalised over the answers it was taught (yes, no, not sure).
"""

from __future__ import annotations

import numpy as np
import torch

from ecglm_cli.errors import ModelError
from ecglm_cli.knowledge.synthesize import VERIFY

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
                                              tokens, logits, [features.context] * len(chunk))
        probs = torch.softmax(next_logits[:, word_ids], dim=-1)
        out.append(probs[:, 0].cpu().numpy())
    return np.concatenate(out)


LM_SPACES = ("diagnostic", "rhythm", "form")
ANSWER_CUT = 0.5  # the LM's own answer: yes when P(yes) >= P(no)


def detection_scores(asker, ds, folds: tuple[int, ...], leads: list[str], limit: int | None,
                     spaces: list[str], progress=None):
    """P(yes) and the labels of every statement of `spaces` for the records of `folds`:
    `(scores, truth)`, each space -> `[records, labels]`. Unreadable records are skipped."""
    from ecglm_cli.errors import RecordError

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
        raise RecordError(ds.root, f"no readable records in fold(s) {', '.join(map(str, folds))}")
    return ({s: np.stack(v) for s, v in scores.items()},
            {s: np.stack(v) for s, v in truth.items()})


def detection_setup(model: str, root, llm: str | None, device: str = "cpu"):
    """The loaded bundle and LM (on `device`: auto, cpu or cuda), the PTB-XL folder, and the
    LM-detection spaces it has."""
    from ecglm_cli.data.ptbxl import PTBXL
    from ecglm_cli.models.device import resolve_device
    from ecglm_cli.pipeline.ask import Asker

    asker = Asker(model, llm, str(resolve_device(device)))
    ds = PTBXL(root)
    return asker, ds, [s for s in LM_SPACES if s in ds.label_spaces]


def evaluate_lm_detection(
    model: str, root, folds: tuple[int, ...], leads: list[str], limit: int | None = None,
    llm: str | None = None, progress=None, device: str = "cpu",
):
    """`evaluate --via lm`: AUC, Fmax and macro F1 of LM detection per space, with the LM's own
    answer (`via: lm`) and, when the bundle has them, at its chosen thresholds (`lm-thresholds`)."""
    from ecglm_cli.models.metrics import space_report
    from ecglm_cli.pipeline.evaluate import EvaluationResult

    asker, ds, spaces = detection_setup(model, root, llm, device)
    scores, truth = detection_scores(asker, ds, folds, leads, limit, spaces, progress)
    rows = []
    for s in spaces:
        codes = ds.label_spaces[s].labels
        rows.append({"space": s, "via": "lm",
                     **space_report(truth[s], scores[s], np.full(len(codes), ANSWER_CUT))})
        if asker.lm_thresholds:
            cuts = np.array([asker.lm_thresholds.get(c, ANSWER_CUT) for c in codes])
            rows.append({"space": s, "via": "lm-thresholds",
                         **space_report(truth[s], scores[s], cuts)})
    return EvaluationResult(rows, [], dict(ds.skipped))


def choose_lm_thresholds(
    model: str, root, folds: tuple[int, ...], limit: int | None = None, llm: str | None = None,
    progress=None, device: str = "cpu",
) -> tuple[dict[str, float], int]:
    """Per statement, the P(yes) cut that maximises F1 on the records of `folds` (validation
    folds, never test ones), as the classifier heads' thresholds are chosen; and how many
    records it was chosen on."""
    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.models.metrics import best_thresholds

    asker, ds, spaces = detection_setup(model, root, llm, device)
    scores, truth = detection_scores(asker, ds, folds, list(STANDARD_LEADS), limit, spaces,
                                     progress)
    chosen: dict[str, float] = {}
    for s in spaces:  # a statement in two spaces has the same scores and labels in both
        cuts = best_thresholds(truth[s], scores[s])
        for code, cut in zip(ds.label_spaces[s].labels, cuts, strict=True):
            chosen.setdefault(code, float(cut))
    return chosen, len(next(iter(truth.values())))


def lm_findings(asker, record, leads: list[str] | None = None,
                spaces: tuple[str, ...] = LM_SPACES) -> dict:
    """`classify --via lm`: P(yes) of the LM's verify answer for every statement of `spaces`,
    positive at the bundle's LM-detection threshold for that statement (chosen on the
    validation fold by `ecglm train lm-thresholds`), else at the LM's own answer, P(yes) 0.5."""
    feats = asker.features(record, leads)
    label_spaces = asker.bundle.label_spaces
    spaces = _present(asker, spaces)
    every = sorted({c for s in spaces for c in label_spaces[s]["labels"]})
    p_yes = dict(zip(every, yes_probabilities(asker, feats, every), strict=True))
    cut = {c: asker.lm_thresholds.get(c, ANSWER_CUT) for c in every}
    findings, probabilities = {}, {}
    for space in spaces:
        described = label_spaces[space].get("descriptions", {})
        codes = label_spaces[space]["labels"]
        probabilities[space] = {c: round(float(p_yes[c]), 4) for c in codes}
        findings[space] = [
            {"code": c, "description": described.get(c, c), "p_yes": round(float(p_yes[c]), 4),
             "threshold": round(cut[c], 4), "positive": True}
            for c in sorted(codes, key=lambda c: -p_yes[c]) if p_yes[c] >= cut[c]
        ]
    return {"via": "lm", "llm": asker.llm_name, "leads_used": feats.leads,
            "findings": findings, "probabilities": probabilities}


LM_CSV_HEAD = ("id", "path", "model", "via", "llm", "leads_used")


def lm_csv_columns(asker, spaces: tuple[str, ...] = LM_SPACES) -> list[str]:
    """CSV columns of `classify --via lm`, as the heads' CSV has them: identity, then P(yes)
    per statement as `space.code`. Known before any record is read, so rows stream out."""
    labels = asker.bundle.label_spaces
    return [*LM_CSV_HEAD, *(f"{s}.{c}" for s in _present(asker, spaces)
                            for c in labels[s]["labels"])]


def lm_csv_row(row: dict) -> dict:
    """One flat CSV row from a `classify --via lm` result (findings stay JSON-only)."""
    flat = {key: row[key] for key in LM_CSV_HEAD}
    flat["leads_used"] = " ".join(row["leads_used"])
    for space, probs in row["probabilities"].items():
        flat.update({f"{space}.{code}": p for code, p in probs.items()})
    return flat


def _present(asker, spaces: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s for s in spaces if s in asker.bundle.label_spaces)
