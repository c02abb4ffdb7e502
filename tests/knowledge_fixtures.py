"""Small PTB-XL-style tables and records written by the tests themselves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import wfdb

COLUMNS = (
    "ecg_id", "patient_id", "scp_codes", "heart_axis", "infarction_stadium1",
    "infarction_stadium2", "baseline_drift", "static_noise", "burst_noise",
    "electrodes_problems", "extra_beats", "pacemaker", "strat_fold", "filename_lr", "filename_hr",
)


def row(ecg_id: int, scp_codes: dict[str, float], fold: int = 1, **labels: str) -> dict:
    """A parsed PTB-XL row as `ecglm_cli.data.ptbxl_table.parse_row` returns it."""
    base = {column: "" for column in COLUMNS}
    base.update(labels)
    base.update(ecg_id=ecg_id, scp_codes=dict(scp_codes), strat_fold=fold)
    return base


def write_ptbxl(root: Path, rows: list[dict], with_signal: set[int] | None = None) -> Path:
    """ptbxl_database.csv plus real 100 Hz WFDB records for the ids in ``with_signal``."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "ptbxl_database.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({**{c: r.get(c, "") for c in COLUMNS},
                             "scp_codes": repr(r["scp_codes"]),
                             "filename_lr": f"records100/00000/{r['ecg_id']:05d}_lr",
                             "filename_hr": f"records500/00000/{r['ecg_id']:05d}_hr"})
    wanted = with_signal if with_signal is not None else {r["ecg_id"] for r in rows}
    t = np.arange(500) / 100.0  # 5 s: the default encoder window (shorter ones are refused)
    signal = np.stack([np.sin(2 * np.pi * 1.2 * t) * (0.5 + 0.05 * k) for k in range(12)], 1)
    for ecg_id in wanted:
        folder = root / "records100" / f"{ecg_id // 1000 * 1000:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        wfdb.wrsamp(f"{ecg_id:05d}_lr", fs=100, units=["mV"] * 12,
                    sig_name=["I", "II", "III", "AVR", "AVL", "AVF",
                              "V1", "V2", "V3", "V4", "V5", "V6"],
                    p_signal=signal, fmt=["16"] * 12, write_dir=str(folder))
    return root
