"""Does the same ECG give the same answer at 500 Hz and at 100 Hz?

For every PTB-XL record present in both `records500/` (`*_hr`) and `records100/` (`*_lr`), scores
both with `classify`'s pipeline and reports the share of records whose superdiagnostic
probabilities all agree within 0.1 (the acceptance figure: at least 95%).

    python benchmarks/rate_agreement.py ../shared/data/ptbxl [--model BUNDLE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.pipeline.classify import (  # noqa: E402
    ReadOptions,
    Scorer,
    load_classifier,
    prepare_record,
    record_id,
)

TOLERANCE = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl", type=Path)
    parser.add_argument("--model", default="ecglm-base")
    args = parser.parse_args()
    pairs = []
    for hr in sorted((args.ptbxl / "records500").glob("*/*_hr.hea")):
        lr = args.ptbxl / "records100" / hr.parent.name / hr.name.replace("_hr", "_lr")
        if lr.exists():
            pairs.append((hr, lr))
    scorer = Scorer(load_classifier(args.model), spaces=["superdiagnostic"], batch_size=64)
    options = ReadOptions(measurements=False)
    diffs = []
    for start in range(0, len(pairs), 32):
        chunk = pairs[start:start + 32]
        prepared = [prepare_record(str(p), record_id(p.name), scorer.spec, options)
                    for pair in chunk for p in pair]
        results = scorer.score(prepared)
        for hr_result, lr_result in zip(results[0::2], results[1::2], strict=True):
            a = hr_result["probabilities"]["superdiagnostic"]
            b = lr_result["probabilities"]["superdiagnostic"]
            diffs.append(max(abs(a[k] - b[k]) for k in a))
    diffs = np.array(diffs)
    within = float((diffs <= TOLERANCE).mean()) if diffs.size else float("nan")
    print(f"model {scorer.bundle.path}: {diffs.size} record pairs (500 Hz vs 100 Hz)")
    print(f"superdiagnostic probabilities within {TOLERANCE}: {within:.1%} of records")
    print(f"largest difference per record: median {np.median(diffs):.4f}, "
          f"95th percentile {np.percentile(diffs, 95):.4f}, max {diffs.max():.4f}")


if __name__ == "__main__":
    main()
