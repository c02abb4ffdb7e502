"""Peak memory and wall time of `ecglm info` and `ecglm classify` on long EDF recordings.

Writes each recording to a temporary folder (a repeated synthetic beat, so it costs seconds to
make), runs the real CLI on it in a subprocess and reads that process's peak resident memory.
One run, on whatever else the machine is doing: compare the rows with each other.

    python benchmarks/long_record_memory.py [--hours 24] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.signal.synthetic import synthetic_ecg  # noqa: E402


def write_long_edf(path: Path, hours: float, fs: int, leads: list[str]) -> int:
    """An EDF of `hours` of `leads` at `fs`, written one 10 s data record at a time."""
    import pyedflib

    beats = synthetic_ecg(fs=fs, seed=0)[:len(leads), :10 * fs] * 1000  # uV, 10 s
    writer = pyedflib.EdfWriter(str(path), len(leads), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        for i, lead in enumerate(leads):
            writer.setSignalHeader(i, {
                "label": f"ECG {lead}", "dimension": "uV", "sample_frequency": fs,
                "physical_min": -5000, "physical_max": 5000,
                "digital_min": -32768, "digital_max": 32767})
        with warnings.catch_warnings():  # pyedflib warns about any explicit duration
            warnings.simplefilter("ignore")
            writer.setDatarecordDuration(10)
        for _ in range(int(hours * 360)):
            writer.writeSamples([np.ascontiguousarray(row, dtype=np.float64) for row in beats])
    finally:
        writer.close()
    return int(hours * 3600 * fs * len(leads))


# run in a fresh parent, so that its children's peak is this command's alone
_WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
)


def peak_of(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in GB, wall seconds, exit code) of one CLI run."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True,
                          text=True, check=True)
    wall = time.monotonic() - start
    peak_kb, code = done.stdout.split()
    return int(peak_kb) / 1024**2, wall, int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", type=Path, default=None, help="Write the files here.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ecglm-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    cases = [("2 leads, 250 Hz", 250, ["II", "V5"]), ("2 leads, 500 Hz", 500, ["II", "V5"])]
    rows = []
    for label, fs, leads in cases:
        path = folder / f"{fs}hz.edf"
        samples = write_long_edf(path, args.hours, fs, leads)
        for command in ("info", "classify"):
            gb, wall, code = peak_of([sys.executable, "-m", "ecglm_cli", command, str(path),
                                      "--format", "json"])
            rows.append([f"{args.hours:g} h, {label}", f"{samples / 1e6:.1f} M", command,
                         f"{path.stat().st_size / 1e6:.0f} MB", f"{gb:.2f}", f"{wall:.1f}",
                         code])
    print(tabulate(rows, headers=["recording", "samples", "command", "file", "peak RSS GB",
                                  "wall s", "exit"]))


if __name__ == "__main__":
    main()
