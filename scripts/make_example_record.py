"""Write the package's example record: a synthetic 12-lead, 10 s, 500 Hz ECG in WFDB format.

Run from the repository root: `python scripts/make_example_record.py`. The output is
deterministic (fixed seed), so re-running it leaves the committed files unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import wfdb  # noqa: E402

from ecglm_cli.examples import EXAMPLE_RECORD  # noqa: E402
from ecglm_cli.io.leads import STANDARD_LEADS  # noqa: E402
from ecglm_cli.signal.synthetic import synthetic_ecg  # noqa: E402

FS = 500


def main() -> None:
    signal = synthetic_ecg(fs=FS, seconds=10.0, heart_rate=70.0, seed=7).astype("float64")
    out = REPO / "ecglm_cli" / "examples"
    wfdb.wrsamp(
        EXAMPLE_RECORD, fs=FS, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
        p_signal=signal.T, fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
        comments=["<age>: 60 <sex>: M", "synthetic sinus rhythm, 70 bpm (ecglm example)"],
        write_dir=str(out),
    )
    print(f"wrote {out / EXAMPLE_RECORD}.hea and .dat")


if __name__ == "__main__":
    main()
