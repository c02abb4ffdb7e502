"""How well do simple per-lead signal features predict PTB-XL's per-lead noise notes?

ECG-QA's noise questions ("Does this ECG show static noise in lead aVL?") are answered from the
free-text columns baseline_drift, static_noise, burst_noise and electrodes_problems. The shipped
language model reads only the encoder's tokens and head outputs, and answers those questions no
better than "always no" (docs/model-card.md). This script measures whether per-lead features
would carry the information, before anyone spends GPU time feeding them to the LM:
seven log-scaled amplitude features per lead (baseline wander, high-frequency residual, slopes),
a small MLP trained on folds 1-8, AUC on fold 9 per lead and per record.

With --ecgqa it also answers ECG-QA's own single-ECG noise questions (templates 26-28) from the
MLP: a yes/no cut per template is chosen on the questions about fold 1-8 records and scored on
fold 9 next to always answering "no". That is roughly the best an LM fed these features could do.

    python scripts/noise_predictability.py ../shared/data/ptbxl
    python scripts/noise_predictability.py ../shared/data/ptbxl \
        --ecgqa ../shared/data/ecgqa/ptbxl/template
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.data.ecgqa import load_ecgqa  # noqa: E402
from ecglm_cli.data.ptbxl_table import read_label_rows  # noqa: E402
from ecglm_cli.errors import RecordError  # noqa: E402
from ecglm_cli.io import read_record  # noqa: E402
from ecglm_cli.io.leads import STANDARD_LEADS  # noqa: E402
from ecglm_cli.knowledge.labels import NOISE_COLUMNS, parse_leads  # noqa: E402
from ecglm_cli.models.metrics import auc_per_label  # noqa: E402
from ecglm_cli.signal.filters import bandpass, remove_baseline  # noqa: E402


def lead_features(x: np.ndarray, fs: float) -> np.ndarray:
    """`[leads, 7]` log amplitudes: wander std and peak, high-frequency std and peakiness,
    overall std, steepest sample step, steepest wander step."""
    x = x - np.median(x, axis=1, keepdims=True)
    ecg = remove_baseline(x, fs).astype(np.float64)
    wander = x - ecg
    high = ecg - bandpass(x, fs, 0.5, 30.0)
    eps = 1e-4
    hf_abs = np.abs(high)
    return np.log(np.stack([
        wander.std(axis=1), np.abs(wander).max(axis=1), high.std(axis=1),
        np.percentile(hf_abs, 99, axis=1) / (np.median(hf_abs, axis=1) + eps), ecg.std(axis=1),
        np.abs(np.diff(x, axis=1)).max(axis=1), np.abs(np.diff(wander, axis=1)).max(axis=1),
    ], axis=1) + eps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl", type=Path, help="PTB-XL folder (ptbxl_database.csv, records100/)")
    parser.add_argument("--ecgqa", type=Path, help="ECG-QA JSON file or folder: also answer its "
                        "single-ECG noise questions (templates 26-28)")
    args = parser.parse_args()
    rows = read_label_rows(args.ptbxl)
    feats, truth, folds, ids = [], [], [], []
    for row in rows.values():
        if row["strat_fold"] > 9:
            continue  # fold 10 is withheld
        try:
            record = read_record(str(args.ptbxl / f"{row['filename_lr']}.hea"))
        except RecordError:
            continue
        if list(record.leads) != list(STANDARD_LEADS):
            continue
        feats.append(lead_features(np.nan_to_num(record.signal.astype(np.float64)), record.fs))
        truth.append([[lead in parse_leads(row.get(column) or "") for column in
                       NOISE_COLUMNS.values()] for lead in STANDARD_LEADS])
        folds.append(row["strat_fold"])
        ids.append(row["ecg_id"])
    x, y, fold = np.array(feats), np.array(truth, dtype=np.float32), np.array(folds)
    train, val = fold <= 8, fold == 9
    mean, std = x[train].mean(axis=(0, 1)), x[train].std(axis=(0, 1)) + 1e-6

    def inputs(part: np.ndarray) -> torch.Tensor:
        z = (part - mean) / std  # [records, 12, f]
        context = np.repeat(z.mean(axis=1, keepdims=True), 12, axis=1)
        leads = np.broadcast_to(np.eye(12), (len(z), 12, 12))
        joined = np.concatenate([z, context, leads], axis=2)
        return torch.tensor(joined.reshape(-1, joined.shape[2]), dtype=torch.float32)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2 * x.shape[2] + 12, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, len(NOISE_COLUMNS)))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    x_train, y_train = inputs(x[train]), torch.from_numpy(y[train].reshape(-1, len(NOISE_COLUMNS)))
    for _ in range(400):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x_train), y_train)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        p_all = torch.sigmoid(net(inputs(x))).numpy().reshape(len(x), 12, len(NOISE_COLUMNS))
    p = p_all[val].reshape(-1, len(NOISE_COLUMNS))
    y_val = y[val].reshape(-1, len(NOISE_COLUMNS))
    lead_auc = auc_per_label(y_val, p)
    record_y = y[val].any(axis=1).astype(np.float32)
    record_auc = auc_per_label(record_y, p.reshape(-1, 12, len(NOISE_COLUMNS)).max(axis=1))
    table = [[kind, int(y_val[:, i].sum()), f"{lead_auc[i]:.3f}", int(record_y[:, i].sum()),
              f"{record_auc[i]:.3f}"] for i, kind in enumerate(NOISE_COLUMNS)]
    print(f"trained on folds 1-8 ({int(train.sum())} records), fold 9: {int(val.sum())} records")
    print(tabulate(table, headers=["noise kind", "lead positives", "AUC per lead",
                                   "record positives", "AUC per record"], tablefmt="github"))
    if args.ecgqa:
        by_id = {ecg_id: (p_all[i], fold[i]) for i, ecg_id in enumerate(ids)}
        print()
        print(tabulate(answer_noise_questions(args.ecgqa, by_id),
                       headers=["template", "questions, folds 1-8", "cut", "questions, fold 9",
                                "accuracy, fold 9", "always no, fold 9"], tablefmt="github"))


def noise_score(question: dict, p: np.ndarray) -> float | None:
    """P(yes) of one noise question from the per-lead probabilities `p [12, kinds]`."""
    kinds = list(NOISE_COLUMNS)
    lead = re.search(r"in lead (\w+)\?", question["question"])
    lead_index = STANDARD_LEADS.index(lead.group(1)) if lead else None
    template = question["template_id"]
    if template == 26 and lead_index is not None:
        return float(p[lead_index, kinds.index(question["attribute"][0])])
    if template == 27:
        return float(p[:, kinds.index(question["attribute"][0])].max())
    if template == 28 and lead_index is not None:
        return float(1 - np.prod(1 - p[lead_index]))
    return None


def answer_noise_questions(path: Path, by_id: dict[int, tuple[np.ndarray, int]]) -> list[list]:
    """Per template: a cut chosen on folds 1-8, accuracy on fold 9 against always "no"."""
    scored: dict[tuple[int, bool], list[tuple[float, bool]]] = {}
    for question in load_ecgqa(path, single_only=True).questions:
        found = by_id.get(question["ecg_id"][0])
        if found is None or question["template_id"] not in (26, 27, 28):
            continue
        value = noise_score(question, found[0])
        if value is not None:
            key = (question["template_id"], found[1] == 9)
            scored.setdefault(key, []).append((value, question["answer"] == ["yes"]))
    table = []
    for template in (26, 27, 28):
        fit, held = scored.get((template, False), []), scored.get((template, True), [])
        if not fit or not held:
            continue
        s, a = (np.array(v) for v in zip(*fit, strict=True))
        cuts = np.unique(np.r_[s, np.inf])
        cut = cuts[int(np.argmax([((s >= c) == a).mean() for c in cuts]))]
        s, a = (np.array(v) for v in zip(*held, strict=True))
        accuracy = ((s >= cut) == a).mean()
        table.append([template, len(fit), f"{cut:.3f}", len(held), f"{accuracy:.3f}",
                      f"{(~a).mean():.3f}"])
    return table


if __name__ == "__main__":
    main()
