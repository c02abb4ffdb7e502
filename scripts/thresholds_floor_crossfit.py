"""Does a floor under the F1-optimal thresholds cost F1 on records it was not chosen on?

Scores fold 9 with a bundle, then 20 times splits it in random halves: thresholds are chosen on
one half (with each floor) and macro F1 and false findings per record are measured on the other.
The figures behind `MIN_THRESHOLD` in docs/model-card.md.

Usage: python scripts/thresholds_floor_crossfit.py PTBXL_DIR [BUNDLE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.data.ptbxl import PTBXL  # noqa: E402
from ecglm_cli.models.bundle import load_bundle  # noqa: E402
from ecglm_cli.models.metrics import best_thresholds, macro_f1  # noqa: E402
from ecglm_cli.pipeline.evaluate import load_split, predict_split  # noqa: E402

FLOORS = (0.0, 0.02, 0.05, 0.1)
SPACES = ("diagnostic", "form", "rhythm", "all")


def main() -> None:
    ds = PTBXL(sys.argv[1])
    bundle = load_bundle(sys.argv[2] if len(sys.argv) > 2 else "ecglm-base")
    val = load_split(ds, ds.select((9,)), bundle.config)
    probs = predict_split(bundle.model, val, bundle.config, None)
    rng = np.random.default_rng(0)
    print("| space | " + " | ".join(f"floor {f}: F1 / false per record" for f in FLOORS) + " |")
    print("|---" * (len(FLOORS) + 1) + "|")
    for space in SPACES:
        y, p = val.label_matrix(space), probs[space]
        f1 = {f: [] for f in FLOORS}
        false = {f: [] for f in FLOORS}
        for _ in range(20):
            order = rng.permutation(len(y))
            halves = order[: len(y) // 2], order[len(y) // 2:]
            for chosen_on, scored_on in (halves, halves[::-1]):
                cuts = best_thresholds(y[chosen_on], p[chosen_on], floor=0.0)
                for floor in FLOORS:
                    t = np.maximum(cuts, floor)
                    f1[floor].append(macro_f1(y[scored_on], p[scored_on], t))
                    wrong = (p[scored_on] >= t) & (y[scored_on] < 0.5)
                    false[floor].append(wrong.sum(1).mean())
        print(f"| {space} | " + " | ".join(
            f"{np.mean(f1[f]):.3f} / {np.mean(false[f]):.2f}" for f in FLOORS) + " |")


if __name__ == "__main__":
    main()
