"""Free-form questions to the ECG language model, beside each record's PTB-XL labels.

ECG-QA scores templated questions; users type their own. This prints, for a few records, the
model's answer to plain questions that no template words that way, so its failure modes can be
read (not scored: free text has no exact-match key).

    python scripts/free_form_probe.py ../shared/data/ptbxl --ids 8,17 [--bundle ecglm-base]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.data.ptbxl import PTBXL  # noqa: E402
from ecglm_cli.data.ptbxl_table import read_label_rows  # noqa: E402
from ecglm_cli.pipeline.ask import Asker  # noqa: E402

QUESTIONS = (
    "Is this ECG normal?",
    "What rhythm is this?",
    "What is the heart axis?",
    "What is the heart rate?",
    "Is there a pacemaker?",
    "Which leads show noise?",
    "What is the patient's age?",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl", type=Path)
    parser.add_argument("--ids", default="8,17", help="PTB-XL ecg_ids, comma-separated")
    parser.add_argument("--bundle", default="ecglm-base")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    ids = [int(i) for i in args.ids.split(",")]
    ptbxl = PTBXL(args.ptbxl)
    entries = {e.ecg_id: e for e in ptbxl.entries}
    missing = [i for i in ids if i not in entries]
    if missing:
        sys.exit(f"{args.ptbxl}: ecg_id {missing} not in ptbxl_database.csv")
    label_rows = read_label_rows(args.ptbxl)
    asker = Asker(args.bundle)
    rows = []
    for ecg_id in ids:
        entry = entries[ecg_id]
        feats = asker.features(ptbxl.record(entry))
        answers = asker.answer_batch(list(QUESTIONS), [feats] * len(QUESTIONS),
                                     args.max_new_tokens)
        row = label_rows[ecg_id]
        labels = ", ".join(f"{code} {int(p)}" for code, p in entry.codes.items())
        labels += f"; axis {row['heart_axis'] or '-'}; pacemaker {row['pacemaker'] or '-'}"
        rows.append([f"{ecg_id} (fold {entry.fold})", "labels", labels])
        rows += [["", q, a] for q, a in zip(QUESTIONS, answers, strict=True)]
    print(tabulate(rows, headers=["record", "question", "answer"], tablefmt="github",
                   maxcolwidths=[None, None, 70]))


if __name__ == "__main__":
    main()
