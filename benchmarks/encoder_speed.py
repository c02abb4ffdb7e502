"""Encoder speed on this machine's CPU: training and inference records per second.

Usage: python benchmarks/encoder_speed.py [--model BUNDLE] [--threads N]
Uses random 12-lead input of the bundle's window (default: the shipped ecglm-base, or the
default architecture when no bundle is installed), so no data set is needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.errors import ModelError  # noqa: E402
from ecglm_cli.models.bundle import load_bundle  # noqa: E402
from ecglm_cli.models.encoder import ECGClassifier, EncoderConfig  # noqa: E402


def _model(name: str) -> ECGClassifier:
    try:
        return load_bundle(name).model
    except ModelError:
        counts = {"all": 71, "diagnostic": 44, "subdiagnostic": 23, "superdiagnostic": 5,
                  "form": 19, "rhythm": 12}
        return ECGClassifier(EncoderConfig(width=64, kernel_size=5, label_counts=counts))


def _rate(fn, records: int, seconds: float = 5.0) -> float:
    fn()  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        done += records
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ecglm-base")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = _model(args.model)
    window = model.config.window
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x64, m64 = torch.randn(64, 12, window), torch.ones(64, 12, dtype=torch.bool)

    def train_step() -> None:
        model.train()
        loss = sum(out.mean() for out in model(x64, m64).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer(n: int) -> None:
        model.eval()
        model(x64[:n], m64[:n])

    rows = [
        ["training (batch 64, one window)", _rate(train_step, 64)],
        ["inference, batch 1 (one window)", _rate(lambda: infer(1), 1)],
        ["inference, batch 64 (one window)", _rate(lambda: infer(64), 64)],
    ]
    params = sum(p.numel() for p in model.parameters())
    print(f"model: width {model.config.width}, kernel {model.config.kernel_size}, "
          f"{params / 1e6:.1f} M parameters, window {window} samples at {model.config.fs:g} Hz, "
          f"{torch.get_num_threads()} threads")
    print(tabulate(rows, headers=["task", "records/s"], floatfmt=".1f"))
    print("A 10 s record is scored as 3 windows, so records/s for whole records is about a third.")


if __name__ == "__main__":
    main()
