"""CPU cost of each stage of `batch` per record, and what it implies for the speed targets.

Runs every stage in this process on one core (torch and OpenMP pinned to one thread) over the
first `--records` PTB-XL records and prints, from one run:
1. milliseconds per record for reading + preparing (what `batch` workers do), the measurements,
   the model (encoder + heads over the record's windows) and building the result, and for the
   naive loop's `wfdb.rdrecord`;
2. the encoder's arithmetic rate (GFLOP/s over its convolutions), the figure that bounds the model;
3. the best `batch` rate those costs allow on this machine's cores with zero overhead, and the
   best ratio to the naive loop (which pays `wfdb.rdrecord` and the same model).

    python benchmarks/stage_costs.py ../shared/data/ptbxl/records100 [--model BUNDLE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from tabulate import tabulate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.features import measure  # noqa: E402
from ecglm_cli.io import read_record  # noqa: E402
from ecglm_cli.models.predict import predict_windows  # noqa: E402
from ecglm_cli.pipeline.classify import (  # noqa: E402
    ReadOptions,
    Scorer,
    load_classifier,
    prepare_record,
)


def per_record_ms(fn, items: list) -> float:
    """Best of 3 passes over `items`, in ms per item."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(items)


def conv_flops(model: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor) -> int:
    """Multiply-adds x 2 of every convolution for one forward pass of `x`."""
    total = 0

    def hook(module: torch.nn.Conv1d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.in_channels // module.groups
        total += 2 * output.numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv1d)]
    with torch.no_grad():
        model(x, mask)
    for h in handles:
        h.remove()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, help="folder of WFDB records (PTB-XL records100)")
    parser.add_argument("--model", default="ecglm-base")
    parser.add_argument("--records", dest="limit", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    headers = [str(h) for h in sorted(args.records.rglob("*.hea"))[: args.limit]]
    if not headers:
        raise SystemExit(f"no .hea files under {args.records}")
    scorer = Scorer(load_classifier(args.model))
    model = scorer.bundle.model
    plain = ReadOptions(measurements=False)

    import wfdb

    rdrecord = per_record_ms(lambda h: wfdb.rdrecord(h[:-4]), headers)
    prepare = per_record_ms(lambda h: prepare_record(h, h, scorer.spec, plain), headers)
    records = [read_record(h) for h in headers]
    measurements = per_record_ms(measure, records)
    prepared = [prepare_record(h, h, scorer.spec, plain) for h in headers]
    batches = [prepared[i:i + 64] for i in range(0, len(prepared), 64)]
    items = [[(r.windows, r.mask) for r in b] for b in batches]
    model_ms = per_record_ms(lambda b: predict_windows(model, b), items) * len(items) / len(headers)
    score_ms = per_record_ms(scorer.score, batches) * len(batches) / len(headers)
    naive_ms = rdrecord + per_record_ms(lambda r: predict_windows(model, [(r.windows, r.mask)]),
                                        prepared)
    windows = sum(len(r.windows) for r in prepared) / len(prepared)

    x = torch.from_numpy(prepared[0].windows[:1]).repeat(64, 1, 1)
    mask = torch.ones(64, 12, dtype=torch.bool)
    flops = conv_flops(model, x[:1], mask[:1])
    window_ms = per_record_ms(lambda _: predict_windows(model, [(x.numpy(), mask[0].numpy())]),
                              [0]) / 64
    cores = os.cpu_count() or 1
    rows = [
        ["wfdb.rdrecord (naive loop's reader)", f"{rdrecord:.2f}"],
        ["read + prepare (batch worker, no measurements)", f"{prepare:.2f}"],
        ["measurements (features.measure)", f"{measurements:.2f}"],
        [f"model: encoder + heads, {windows:.1f} windows per record", f"{model_ms:.2f}"],
        ["model + building the result (Scorer.score)", f"{score_ms:.2f}"],
    ]
    print(f"{len(headers)} records, one thread, {cores} cores on this machine")
    print(tabulate(rows, headers=["stage", "ms CPU per record"], tablefmt="github"))
    print(f"\nencoder: {flops / 1e6:.0f} MFLOP of convolution per window, "
          f"{window_ms:.2f} ms per window = {flops / window_ms / 1e6:.0f} GFLOP/s on one core")
    plain_ms = prepare + score_ms
    full_ms = plain_ms + measurements
    print(f"\nbest possible `batch` on {cores} cores (all cores busy, zero overhead):")
    print(f"  without measurements: {1000 * cores / plain_ms:.0f} records/s; "
          f"with measurements: {1000 * cores / full_ms:.0f} records/s")
    print(f"  ratio to the naive loop held to one thread (rdrecord + one record's forward, "
          f"{naive_ms:.1f} ms per record): {cores * naive_ms / plain_ms:.1f}x; "
          f"with a model that cost nothing: {cores * rdrecord / prepare:.1f}x")


if __name__ == "__main__":
    main()
