"""How often `measure` flags swapped arm electrodes, on real PTB-XL records as recorded and on the
same records with their left and right arm electrodes swapped in software.

    python benchmarks/lead_reversal_check.py [--data ../shared/data] [--rate 100|500] [--limit N]

PTB-XL labels no lead reversal, so the records as recorded stand for correct placement (a few
may not be), and the swapped copies for reversal: lead I negated, II with III and aVR with aVL
exchanged, as swapping the LA and RA electrodes does. Prints flagged counts and the flagged
records as recorded, with their statements.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.features import measure  # noqa: E402
from ecglm_cli.io import read_record  # noqa: E402

FLAG = "arm electrodes may be swapped"


def swap_arms(signal: np.ndarray, leads: list[str]) -> np.ndarray:
    """The limb leads as they come out with the LA and RA electrodes swapped."""
    at = {lead: i for i, lead in enumerate(leads)}
    out = signal.copy()
    out[at["I"]] = -signal[at["I"]]
    for a, b in (("II", "III"), ("aVR", "aVL")):
        out[at[a]], out[at[b]] = signal[at[b]], signal[at[a]]
    return out


def flagged(record) -> bool:
    return FLAG in str(measure(record).get("note", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data")
    parser.add_argument("--rate", choices=["100", "500"], default="100")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    root = args.data / "ptbxl"
    column = "filename_lr" if args.rate == "100" else "filename_hr"
    with open(root / "ptbxl_database.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (root / (r[column] + ".hea")).is_file()]
    rows = rows[: args.limit]
    real, swapped, flagged_real = 0, 0, []
    for row in rows:
        record = read_record(root / (row[column] + ".hea"))
        if flagged(record):
            real += 1
            flagged_real.append(f"{row['ecg_id']} {row['scp_codes']}")
        signal = swap_arms(np.asarray(record.signal), list(record.leads))
        swapped += flagged(replace(record, signal=signal))
    n = len(rows)
    print(f"| PTB-XL {args.rate} Hz ({n} records) | flagged | share |")
    print("|---|---|---|")
    print(f"| as recorded | {real} | {real / n:.1%} |")
    print(f"| arm electrodes swapped in software | {swapped} | {swapped / n:.1%} |")
    for line in flagged_real:
        print(f"flagged as recorded: {line}")


if __name__ == "__main__":
    main()
