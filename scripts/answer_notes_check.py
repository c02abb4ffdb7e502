"""How often `ask` says "the classifier does not back this yes/no", and how often it is right to.

For each record of the chosen folds it asks one verify question per statement below and checks
the LM's yes/no against the PTB-XL label, split by whether `ask` added the classifier note
(`pipeline/answer_notes.disagreement_note`). The note is useful when the LM is mostly wrong
where it fires and mostly right where it does not. Fold 9 is where the bundle's thresholds were
chosen, so it flatters the classifier a little.

    python scripts/answer_notes_check.py ../shared/data/ptbxl --folds 9 [--bundle DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.data.ptbxl import PTBXL  # noqa: E402
from ecglm_cli.errors import RecordError  # noqa: E402
from ecglm_cli.pipeline.ask import Asker  # noqa: E402

QUESTIONS = {
    "AFIB": "Does this ECG show atrial fibrillation?",
    "SR": "Is this sinus rhythm?",
    "NORM": "Is this ECG normal?",
    "CLBBB": "Does this ECG show left bundle branch block?",
    "IMI": "Does this ECG show inferior myocardial infarction?",
    "LVH": "Does this ECG show left ventricular hypertrophy?",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl")
    parser.add_argument("--folds", default="9")
    parser.add_argument("--bundle", default="ecglm-base")
    parser.add_argument("--limit", type=int, default=None, help="At most N records.")
    args = parser.parse_args()
    ptbxl = PTBXL(args.ptbxl)
    asker = Asker(args.bundle)
    right: dict[tuple[str, bool], list[int]] = defaultdict(list)  # (code, noted) -> LM right?
    entries = ptbxl.select(tuple(int(f) for f in args.folds.split(",")), args.limit)
    for n, entry in enumerate(entries, 1):
        try:
            record = ptbxl.record(entry)
        except RecordError as exc:
            print(f"skipped {entry.ecg_id}: {exc.problem}", file=sys.stderr)
            continue
        for code, question in QUESTIONS.items():
            answer = asker.ask(record, question, max_new_tokens=4, evidence=False)
            noted = any(note.startswith("the classifier") for note in answer.notes)
            said_yes = answer.answer.strip().lower().startswith("yes")
            right[(code, noted)].append(int(said_yes == (code in entry.codes)))
        if n % 50 == 0:
            print(f"{n}/{len(entries)} records", file=sys.stderr)
    rows = []
    for code in [*QUESTIONS, "all"]:
        cells = [code]
        for noted in (True, False):
            hits = [h for (c, k), v in right.items() if k == noted and code in (c, "all")
                    for h in v]
            cells += [len(hits), round(sum(hits) / len(hits), 3) if hits else None]
        rows.append(cells)
    print(tabulate(rows, headers=["statement", "noted", "LM right where noted", "not noted",
                                  "LM right where not noted"]))


if __name__ == "__main__":
    main()
