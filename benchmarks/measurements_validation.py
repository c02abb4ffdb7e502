"""Validate `ecglm_cli.features.measure` against annotated and labelled real ECGs.

    python benchmarks/measurements_validation.py [--data ../shared/data] [--neurokit]

1. MIT-BIH record 100: R-peak sensitivity and positive predictivity against the beat
   annotations in 100.atr (150 ms tolerance).
2. PTB-XL (folds 1-9 as shared): physiological checks of the measurements against the
   statements in ptbxl_database.csv (likelihood >= 50, or any rhythm statement), for the
   100 Hz and the 500 Hz versions. With --neurokit, neurokit2's figures (lead II, DWT
   delineation) on the same records are printed beside ours; neurokit2 is not a dependency
   of ecglm and must be installed separately.
"""

from __future__ import annotations

import argparse
import ast
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.features import detect_qrs, measure  # noqa: E402
from ecglm_cli.io import read_record  # noqa: E402
from ecglm_cli.signal.resample import resample  # noqa: E402

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
TOLERANCE_S = 0.15

# name -> (statements that select a record, measurement, test on the value, required share)
CHECKS: dict[str, tuple[tuple[str, ...], str, Callable[[float], bool], float]] = {
    "CLBBB: QRS >= 120 ms": (("CLBBB",), "qrs_duration", lambda v: v >= 120, 0.90),
    "CRBBB: QRS >= 120 ms": (("CRBBB",), "qrs_duration", lambda v: v >= 120, 0.90),
    "NORM+SR: QRS < 120 ms": (("NORM", "SR"), "qrs_duration", lambda v: v < 120, 0.95),
    "NORM+SR: PR 120-220 ms": (("NORM", "SR"), "pr_interval", lambda v: 120 <= v <= 220, 0.90),
    "1AVB: PR > 200 ms": (("1AVB",), "pr_interval", lambda v: v > 200, 0.80),
    "SBRAD: HR < 60": (("SBRAD",), "heart_rate", lambda v: v < 60, 0.90),
    "STACH: HR > 100": (("STACH",), "heart_rate", lambda v: v > 100, 0.90),
    # the previous beat's T wave lies close before the P wave: taken for it, PR read 392 ms
    "STACH: PR <= 220 ms": (("STACH",), "pr_interval", lambda v: v <= 220, 0.90),
    "LAFB: axis < -30 deg": (("LAFB",), "qrs_axis", lambda v: v < -30, 0.80),
}


def mitbih_detection(data: Path) -> tuple[float, float, int]:
    """(sensitivity, positive predictivity, annotated beats) on MIT-BIH record 100."""
    import wfdb

    base = data / "misc" / "wfdb" / "100"
    record = read_record(base.with_suffix(".hea"))
    ann = wfdb.rdann(str(base), "atr")
    ref = np.array([s for s, c in zip(ann.sample, ann.symbol, strict=True) if c in BEAT_SYMBOLS])
    work = 250.0
    x = resample(np.asarray(record.signal, dtype=np.float64), record.fs, work)
    found = np.round(detect_qrs(x.astype(np.float64), work) * record.fs / work).astype(int)
    tol = TOLERANCE_S * record.fs
    return _matched(ref, found, tol), _matched(found, ref, tol), len(ref)


def _matched(a: np.ndarray, b: np.ndarray, tol: float) -> float:
    """Share of `a` within `tol` samples of some element of sorted `b`."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    j = np.clip(np.searchsorted(b, a), 1, max(1, len(b) - 1))
    dist = np.minimum(np.abs(b[j] - a), np.abs(b[j - 1] - a))
    return float((dist <= tol).mean())


def ptbxl_labels(data: Path) -> dict[int, tuple[set[str], str, str]]:
    """ecg_id -> (statements with likelihood >= 50 or rhythm, 100 Hz path, 500 Hz path)."""
    root = data / "ptbxl"
    with open(root / "scp_statements.csv", newline="") as fh:
        rhythm = {row[""] for row in csv.DictReader(fh) if row["rhythm"] == "1.0"}
    labels = {}
    with open(root / "ptbxl_database.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            codes = ast.literal_eval(row["scp_codes"])
            chosen = {c for c, lik in codes.items() if lik >= 50 or c in rhythm}
            labels[int(row["ecg_id"])] = (chosen, row["filename_lr"], row["filename_hr"])
    return labels


def ptbxl_records(data: Path, resolution: str, every: int = 1) -> list[tuple[set[str], Path]]:
    """Labelled records present on disk at `resolution` ('lr' 100 Hz or 'hr' 500 Hz) that
    some check selects; `every` keeps every n-th for a quick deterministic subset."""
    wanted = set().union(*(set(c[0]) for c in CHECKS.values()))
    out = []
    for _, (codes, lr, hr) in sorted(ptbxl_labels(data).items()):
        path = data / "ptbxl" / (lr if resolution == "lr" else hr)
        if codes & wanted and path.with_suffix(".hea").exists():
            out.append((codes, path.with_suffix(".hea")))
    return out[::every]


# statement -> what a null PR means there; not targets, but a PR measured without a P wave
# before each QRS would be an invented number
NO_P_WAVE = {"AFIB": "no P waves", "AFLT": "flutter waves, no single P wave"}


def pr_null(data: Path, resolution: str, statement: str) -> tuple[int, int]:
    """(records labelled `statement` whose PR is null, records labelled `statement`)."""
    nulls = total = 0
    for codes, _lr, _hr in ptbxl_labels(data).values():
        path = data / "ptbxl" / (_lr if resolution == "lr" else _hr)
        if statement in codes and path.with_suffix(".hea").exists():
            total += 1
            nulls += measure(read_record(path.with_suffix(".hea")))["pr_interval"]["value"] is None
    return nulls, total


def ours(path: Path) -> dict[str, float | None]:
    m = measure(read_record(path))
    names = {c[1] for c in CHECKS.values()}
    return {name: m[name]["value"] for name in names}


def neurokit(path: Path) -> dict[str, float | None]:
    """neurokit2's heart rate, PR and QRS (lead II, DWT delineation); no axis."""
    import neurokit2 as nk

    record = read_record(path)
    lead = record.signal[record.leads.index("II")].astype(np.float64)
    fs = int(record.fs)
    out: dict[str, float | None] = {"heart_rate": None, "pr_interval": None,
                                    "qrs_duration": None, "qrs_axis": None}
    try:
        clean = nk.ecg_clean(lead, sampling_rate=fs)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"])
        if len(peaks) > 2:
            out["heart_rate"] = float(60.0 * fs / np.diff(peaks).mean())
        _, waves = nk.ecg_delineate(clean, peaks, sampling_rate=fs, method="dwt")
        p_on = np.asarray(waves["ECG_P_Onsets"], dtype=float)
        r_on = np.asarray(waves["ECG_R_Onsets"], dtype=float)
        r_off = np.asarray(waves["ECG_R_Offsets"], dtype=float)
        pr, qrs = (r_on - p_on) * 1000 / fs, (r_off - r_on) * 1000 / fs
        if np.isfinite(pr).any():
            out["pr_interval"] = float(np.nanmedian(pr))
        if np.isfinite(qrs).any():
            out["qrs_duration"] = float(np.nanmedian(qrs))
    except Exception:  # neurokit2 fails on some records; those count as "no value"
        pass
    return out


def agreement(records: list[tuple[set[str], Path]], method: Callable) -> dict[str, tuple]:
    """check -> (passed, measured, selected) for `method` over `records`."""
    values = [(codes, method(path)) for codes, path in records]
    table = {}
    for name, (need, key, test, _) in CHECKS.items():
        chosen = [v[key] for codes, v in values if set(need) <= codes]
        measured = [x for x in chosen if x is not None]
        table[name] = (sum(bool(test(x)) for x in measured), len(measured), len(chosen))
    return table


def _share(cell: tuple) -> str:
    passed, measured, selected = cell
    if selected == 0:
        return "-"
    # records with no value count as failures: a null is not agreement
    return f"{passed / selected:.1%} ({passed}/{selected}, {selected - measured} null)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--neurokit", action="store_true", help="add neurokit2's figures")
    args = parser.parse_args()

    se, ppv, n = mitbih_detection(args.data)
    print(f"MIT-BIH 100: {n} annotated beats, sensitivity {se:.2%}, "
          f"positive predictivity {ppv:.2%} (target >= 99.5% each)\n")
    for resolution, label in (("lr", "PTB-XL records100 (100 Hz)"),
                              ("hr", "PTB-XL records500 (500 Hz)")):
        records = ptbxl_records(args.data, resolution)
        start = time.perf_counter()
        mine = agreement(records, ours)
        took = time.perf_counter() - start
        print(f"{label}: {len(records)} labelled records, {took:.1f} s")
        theirs = agreement(records, neurokit) if args.neurokit else None
        head = f"| {'check':<24} | {'target':>6} | {'ecglm':<26} |"
        print(head + (" neurokit2 (lead II) |" if theirs else ""))
        for name, (_, _, _, target) in CHECKS.items():
            ok = mine[name][2] == 0 or mine[name][0] / mine[name][2] >= target
            cell = _share(mine[name]) + ("" if ok else " FAIL")
            row = f"| {name:<24} | {target:>6.0%} | {cell:<26} |"
            if theirs:
                row += f" {_share(theirs[name])} |"
            print(row)
        for statement, why in NO_P_WAVE.items():
            nulls, total = pr_null(args.data, resolution, statement)
            if total:
                print(f"{statement} records with PR null ({why}): {nulls}/{total} "
                      f"({nulls / total:.0%})")
        print()


if __name__ == "__main__":
    main()
