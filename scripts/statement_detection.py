"""LM detection of chosen statements on fold-9 records: AUC and yes-rate per statement.

`evaluate --via lm` averages over a whole label space; this looks at a few statements, for
example the ones ECG-QA never names (NORM, ...), and also asks one plain question of your own.

    python scripts/statement_detection.py ../shared/data/ptbxl --bundle runs/x --codes NORM \\
        --limit 120 --plain "Is this ECG normal?"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.io.leads import STANDARD_LEADS  # noqa: E402
from ecglm_cli.models.metrics import auc_per_label  # noqa: E402
from ecglm_cli.pipeline.lm_detect import (  # noqa: E402
    ANSWER_CUT,
    detection_scores,
    detection_setup,
    statement_question,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl", type=Path)
    parser.add_argument("--bundle", default="ecglm-base")
    parser.add_argument("--codes", default="NORM", help="SCP codes, comma-separated")
    parser.add_argument("--folds", default="9")
    parser.add_argument("--limit", type=int, default=None, help="at most N records")
    parser.add_argument("--plain", default=None,
                        help="also ask this question; its yes-rate is split by the first code")
    args = parser.parse_args()
    codes = args.codes.split(",")
    folds = tuple(int(f) for f in args.folds.split(","))
    asker, ds, spaces = detection_setup(args.bundle, args.ptbxl, None)
    space_of = {c: s for s in spaces for c in ds.label_spaces[s].labels}
    unknown = [c for c in codes if c not in space_of]
    if unknown:
        sys.exit(f"not a statement of {spaces}: {unknown}")
    wanted = sorted({space_of[c] for c in codes})
    scores, truth = detection_scores(asker, ds, folds, list(STANDARD_LEADS), args.limit, wanted)
    rows = []
    for code in codes:
        space = space_of[code]
        i = ds.label_spaces[space].labels.index(code)
        y, p = np.asarray(truth[space])[:, i], np.asarray(scores[space])[:, i]
        auc = auc_per_label(y[:, None], p[:, None])[0]
        rows.append([code, statement_question(code), len(y), int(y.sum()), round(float(auc), 3),
                     round(float(np.mean(p[y == 1] >= ANSWER_CUT)), 2) if y.any() else None,
                     round(float(np.mean(p[y == 0] >= ANSWER_CUT)), 2) if (y == 0).any() else None])
    print(tabulate(rows, headers=["code", "question", "records", "positives", "AUC",
                                  "yes | positive", "yes | negative"], tablefmt="github"))
    if args.plain:
        yes = {True: [0, 0], False: [0, 0]}
        for entry in ds.select(folds, args.limit):
            feats = asker.features(ds.record(entry))
            answer = asker.answer_batch([args.plain], [feats], 4)[0]
            labelled = entry.codes.get(codes[0], -1) >= 0
            yes[labelled][0] += answer.strip().lower().startswith("yes")
            yes[labelled][1] += 1
        print(f"\n{args.plain!r} answered yes: {yes[True][0]} of {yes[True][1]} records labelled "
              f"{codes[0]}, {yes[False][0]} of {yes[False][1]} others")


if __name__ == "__main__":
    main()
