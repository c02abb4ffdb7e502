"""How often `ask` says "the classifier (or the measured axis) does not back this", and how
often it is right to.

For each record of the chosen folds it asks one verify question per statement below, four
questions a measurement decides (rate, QRS width, regularity), and two axis questions, and
checks the LM's answer against the PTB-XL labels (`scp_codes`, and `heart_axis` where that
column is filled), split by whether `ask` added a note (`pipeline/answer_notes`:
`disagreement_note`, `measured_claim_note`, `axis_note`). A note is useful when the LM is
mostly wrong where it fires and mostly right where it does not. Fold 9 is where the bundle's
thresholds were chosen, so it flatters the classifier a little; and the labels name a fast rate
only as a rhythm statement (STACH, SVTAC), so a fast AF record counts as "not fast".

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
from ecglm_cli.data.ptbxl_table import read_label_rows  # noqa: E402
from ecglm_cli.errors import RecordError  # noqa: E402
from ecglm_cli.knowledge.labels import AXIS_ANSWERS  # noqa: E402
from ecglm_cli.pipeline.ask import Asker  # noqa: E402

QUESTIONS = {
    "AFIB": "Does this ECG show atrial fibrillation?",
    "SR": "Is this sinus rhythm?",
    "NORM": "Is this ECG normal?",
    "CLBBB": "Does this ECG show left bundle branch block?",
    "IMI": "Does this ECG show inferior myocardial infarction?",
    "LVH": "Does this ECG show left ventricular hypertrophy?",
}
# questions a measurement decides, and the statements whose label says "yes"
MEASURED = {
    "rate fast?": ("Is the heart rate fast?", {"STACH", "SVTAC", "PSVT"}),
    "bradycardia?": ("Is there bradycardia?", {"SBRAD"}),
    "QRS wide?": ("Is the QRS wide?", {"CLBBB", "CRBBB", "IVCD", "WPW"}),
}
IRREGULAR = {"AFIB", "AFLT", "SARRH", "SVARR", "PVC", "PAC", "BIGU", "TRIGU"}
LAD_QUESTION = "Is there left axis deviation?"
AXIS_QUESTION = "What is the heart axis of this ECG?"
NOTES = ("the classifier", "the measured")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl")
    parser.add_argument("--folds", default="9")
    parser.add_argument("--bundle", default="ecglm-base")
    parser.add_argument("--limit", type=int, default=None, help="At most N records.")
    args = parser.parse_args()
    ptbxl = PTBXL(args.ptbxl)
    axis_labels = {ecg_id: AXIS_ANSWERS.get((row.get("heart_axis") or "").strip().upper())
                   for ecg_id, row in read_label_rows(args.ptbxl).items()}
    asker = Asker(args.bundle)
    right: dict[tuple[str, bool], list[int]] = defaultdict(list)  # (row, noted) -> LM right?
    entries = ptbxl.select(tuple(int(f) for f in args.folds.split(",")), args.limit)
    for n, entry in enumerate(entries, 1):
        try:
            record = ptbxl.record(entry)
        except RecordError as exc:
            print(f"skipped {entry.ecg_id}: {exc.problem}", file=sys.stderr)
            continue
        asked = [(code, q, "yes" if code in entry.codes else "no")
                 for code, q in QUESTIONS.items()]
        asked += [(name, q, "yes" if codes & set(entry.codes) else "no")
                  for name, (q, codes) in MEASURED.items()]
        asked.append(("rhythm regular?", "Is the rhythm regular?",
                      "no" if IRREGULAR & set(entry.codes) else "yes"))
        axis = axis_labels.get(entry.ecg_id)
        if axis:
            asked += [("axis: LAD?", LAD_QUESTION,
                       "yes" if axis == "left axis deviation" else "no"),
                      ("axis: which?", AXIS_QUESTION, axis)]
        for name, question, expected in asked:
            answer = asker.ask(record, question, max_new_tokens=8, evidence=False)
            noted = any(note.startswith(NOTES) for note in answer.notes)
            said = answer.answer.strip().lower()
            if expected in ("yes", "no"):  # "not sure" counts as not saying yes
                said = "yes" if said.startswith("yes") else "no"
            right[(name, noted)].append(int(said == expected))
        if n % 50 == 0:
            print(f"{n}/{len(entries)} records", file=sys.stderr)
    rows = []
    names = list(dict.fromkeys(name for name, _ in right))
    for name in [*names, "all"]:
        cells = [name]
        for noted in (True, False):
            hits = [h for (c, k), v in right.items() if k == noted and name in (c, "all")
                    for h in v]
            cells += [len(hits), round(sum(hits) / len(hits), 3) if hits else None]
        rows.append(cells)
    print(tabulate(rows, headers=["question", "noted", "LM right where noted", "not noted",
                                  "LM right where not noted"]))


if __name__ == "__main__":
    main()
