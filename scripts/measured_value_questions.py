"""Questions about measured values (rate, intervals, axis) to the ECG language model, scored.

For each record of the chosen folds it asks one fixed wording per value ("What is the heart
rate of this ECG?", "Is the PR interval of this ECG within the normal range?", ...) and
compares the answer with `features.measure` of the same record: exact match of the value and
of the range class, and the median absolute error where the answer is a number. Only an
LM trained with measured values (`train --measured`) reads them; for any other LM this shows
how far it guesses.

    python scripts/measured_value_questions.py ../shared/data/ptbxl --folds 9 [--bundle DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.data.ptbxl import PTBXL  # noqa: E402
from ecglm_cli.errors import RecordError  # noqa: E402
from ecglm_cli.knowledge.synthesize import (  # noqa: E402
    MEASURED_NAMES,
    NORMAL_RANGES,
    RANGE_WORDINGS,
    VALUE_WORDINGS,
    measured_range,
    value_text,
)
from ecglm_cli.pipeline.ask import Asker  # noqa: E402
from ecglm_cli.pipeline.ecg_features import measured_values  # noqa: E402

NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?)")  # an answer that is a number, as "72 bpm" is


def questions(measurements: dict) -> list[tuple[str, str, str, str]]:
    """`(key, kind, question, expected)` for every value this record has."""
    out = []
    for key, (name, _) in MEASURED_NAMES.items():
        expected = value_text(measurements, key)
        if not expected:
            continue
        out.append((key, "value", VALUE_WORDINGS[0].format(name), expected))
        if key in NORMAL_RANGES:
            out.append((key, "range", RANGE_WORDINGS[0].format(name),
                        measured_range(key, measurements)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl", type=Path)
    parser.add_argument("--folds", default="9")
    parser.add_argument("--bundle", default="ecglm-base")
    parser.add_argument("--limit", type=int, default=None, help="At most N records.")
    args = parser.parse_args()
    ptbxl = PTBXL(args.ptbxl)
    asker = Asker(args.bundle)
    right: dict[tuple[str, str], list[int]] = defaultdict(list)
    errors: dict[str, list[float]] = defaultdict(list)
    entries = ptbxl.select(tuple(int(f) for f in args.folds.split(",")), args.limit)
    for n, entry in enumerate(entries, 1):
        try:
            record = ptbxl.record(entry)
            feats = asker.features(record)
        except RecordError as exc:
            print(f"skipped {entry.ecg_id}: {exc.problem}", file=sys.stderr)
            continue
        measurements = feats.measurements or measured_values(record)[0]
        asked = questions(measurements)
        answers = asker.answer_batch([q for _, _, q, _ in asked], [feats] * len(asked), 12)
        for (key, kind, _, expected), answer in zip(asked, answers, strict=True):
            right[(key, kind)].append(int(answer.strip().rstrip(".") == expected))
            written = NUMBER.match(answer)
            if kind == "value" and written:
                errors[key].append(abs(float(written.group(1))
                                       - float(NUMBER.match(expected).group(1))))
        if n % 50 == 0:
            print(f"{n}/{len(entries)} records", file=sys.stderr)
    rows = [[key, kind, len(v), round(float(np.mean(v)), 3),
             len(errors[key]) if kind == "value" else "",
             round(float(np.median(errors[key])), 1) if kind == "value" and errors[key] else ""]
            for (key, kind), v in sorted(right.items())]
    print(tabulate(rows, headers=["value", "question", "asked", "exact", "numbers",
                                  "median |error|"], tablefmt="github"))


if __name__ == "__main__":
    main()
