"""Median time of `measure()` on one 10 s 12-lead 500 Hz record (target: under 20 ms).

    python benchmarks/measurements_speed.py [record.hea] [--repeat 50]

Without a record path it uses PTB-XL 00001_hr from ../shared/data when present, and a
synthetic 12-lead record otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ecglm_cli.features import measure  # noqa: E402
from ecglm_cli.io import read_record  # noqa: E402
from ecglm_cli.io.leads import STANDARD_LEADS  # noqa: E402
from ecglm_cli.io.record import ECGRecord  # noqa: E402

DEFAULT = REPO.parent / "shared" / "data" / "ptbxl" / "records500" / "00000" / "00001_hr.hea"


def _synthetic() -> ECGRecord:
    """Ten seconds of 12 identical spiky beats at 72 bpm plus noise, 500 Hz."""
    t = np.arange(5000) / 500.0
    beat = sum(np.exp(-0.5 * ((t - b) / 0.01) ** 2) for b in np.arange(0.4, 9.8, 60 / 72))
    rng = np.random.default_rng(0)
    signal = (beat[None, :] * np.linspace(-1, 1.5, 12)[:, None]
              + rng.normal(0, 0.02, (12, 5000))).astype(np.float32)
    leads = list(STANDARD_LEADS)
    return ECGRecord(signal=signal, fs=500.0, leads=leads, original_leads=leads,
                     source="synthetic", format="synthetic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("record", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    record = read_record(args.record) if args.record.exists() else _synthetic()
    measure(record)  # warm-up: filter design caches, imports
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        measure(record)
        times.append((time.perf_counter() - start) * 1000.0)
    print(f"{record.source}: {record.signal.shape[0]} leads x {record.n_samples} samples at "
          f"{record.fs:g} Hz; measure() median {statistics.median(times):.1f} ms, "
          f"min {min(times):.1f} ms over {args.repeat} runs (target < 20 ms)")


if __name__ == "__main__":
    main()
