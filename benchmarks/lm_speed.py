"""ECG-LM speed on this machine's CPU: a 20-token answer with the model loaded, and a cold `ask`.

Usage: python benchmarks/lm_speed.py RECORD [--model BUNDLE] [--repeats N]
Prints one JSON object: encoder-feature time, 20-token generation time (mean of N, model
loaded, features computed once), and the wall time of a fresh `ecglm ask` process, text and
`--format json` (which adds the evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ecglm_cli.io import read_record  # noqa: E402
from ecglm_cli.pipeline.ask import Asker  # noqa: E402

QUESTION = "Does this ECG show symptoms of atrial fibrillation?"


def twenty_tokens(asker: Asker, feats) -> float:
    """Seconds to generate exactly 20 new tokens (EOS suppressed by min_new_tokens)."""
    model = asker.lm
    batch = model.encode_prompts([QUESTION])
    started = time.perf_counter()
    with torch.no_grad():
        embeds = model.embed(batch["input_ids"], feats.tokens[None], feats.logits[None])
        out = model.lm.generate(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                                max_new_tokens=20, min_new_tokens=20, do_sample=False,
                                pad_token_id=model.tokenizer.pad_token_id)
    assert out.shape[-1] == 20
    return time.perf_counter() - started


def cold_ask(record: str, model: str, extra: list[str]) -> float:
    """Wall seconds of a fresh `ecglm ask` process, start-up included."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ecglm_cli", "ask", record, QUESTION, "--model", model,
                    *extra], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("record")
    parser.add_argument("--model", default="ecglm-base")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    asker = Asker(args.model)
    record = read_record(args.record)
    started = time.perf_counter()
    feats = asker.features(record)
    feature_s = time.perf_counter() - started
    twenty_tokens(asker, feats)  # warm-up
    times = [twenty_tokens(asker, feats) for _ in range(args.repeats)]
    cold_s, cold_json_s = (cold_ask(args.record, args.model, extra) for extra in ([], [
        "--format", "json"]))
    print(json.dumps({
        "threads": torch.get_num_threads(),
        "encoder_features_s": round(feature_s, 4),
        "answer_20_tokens_s_median": round(statistics.median(times), 4),
        "answer_20_tokens_s_max": round(max(times), 4),
        "cold_ask_wall_s": round(cold_s, 2),
        "cold_ask_json_wall_s": round(cold_json_s, 2),  # + evidence: measuring, scipy import
        "lm_parameters": sum(p.numel() for p in asker.lm.lm.parameters()),
    }))


if __name__ == "__main__":
    main()
