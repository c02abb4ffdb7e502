#!/usr/bin/env bash
# The exact commands that add the ECG language model (compact Llama LM, BPE tokenizer, projector)
# to the shipped bundle ecglm_cli/bundles/ecglm-base. Run after scripts/train_ecglm_base.sh.
# Usage: scripts/train_ecglm_lm.sh DATA_DIR [DEVICE]
#   DATA_DIR  PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/)
#   DEVICE    auto (default), cpu or cuda
# Folds 1-8 train, fold 9 validates; fold 10 is never read. About 5 minutes on one H100.
# A shorter CPU run: ALIGN_EPOCHS=1 INSTRUCT_EPOCHS=2 LIMIT=200 scripts/train_ecglm_lm.sh DIR cpu
# Continue a trained bundle's LM instead of starting afresh (no align; new question draws with
# SEED; DRAWS questions per template and record, 3 by default):
#   CONTINUE_FROM=ecglm_cli/bundles/ecglm-base INSTRUCT_EPOCHS=1 INSTRUCT_LR=3e-4 SEED=1 \
#   scripts/train_ecglm_lm.sh DIR cpu
# The LM reads each record's measured values in its prompt (`train --measured`, the default);
# MEASURED=0 trains without them (`--no-measured`, as the shipped LM was trained).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DATA_DIR [DEVICE]" >&2
  exit 2
fi
DATA_DIR=$1
DEVICE=${2:-auto}
ALIGN_EPOCHS=${ALIGN_EPOCHS:-2}
INSTRUCT_EPOCHS=${INSTRUCT_EPOCHS:-8}
BATCH=${BATCH:-128}
INSTRUCT_LR=${INSTRUCT_LR:-1e-3}
DRAWS=${DRAWS:-3}
SEED=${SEED:-0}
MEASURED_ARG=--measured
if [ "${MEASURED:-1}" = 0 ]; then MEASURED_ARG=--no-measured; fi
LIMIT_ARGS=()
if [ -n "${LIMIT:-}" ]; then LIMIT_ARGS=(--limit "$LIMIT"); fi
cd "$(dirname "$0")/.."
ENCODER=${ENCODER:-ecglm_cli/bundles/ecglm-base}
OUT=runs/ecglm-lm
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"  # a fresh clone has no runs/ (cp -r into it failed)
COMMON=(--ptbxl "$DATA_DIR" --device "$DEVICE" --train-folds 1,2,3,4,5,6,7,8 --val-folds 9
        --batch-size "$BATCH" --views 4 --seed "$SEED" --val-questions 600
        --vocab-size 4096 --hidden 256 --layers 4 --heads 4 "$MEASURED_ARG" "${LIMIT_ARGS[@]}")
if [ -n "${CONTINUE_FROM:-}" ]; then
  cp -r "$CONTINUE_FROM" "$OUT"
else
  python -m ecglm_cli train align --bundle "$ENCODER" --out "$OUT" --epochs "$ALIGN_EPOCHS" \
    --lr 2e-3 "${COMMON[@]}"
fi
python -m ecglm_cli train instruct --bundle "$OUT" --epochs "$INSTRUCT_EPOCHS" \
  --lr "$INSTRUCT_LR" --draws "$DRAWS" "${COMMON[@]}"
# fold-9 figures for docs/model-card.md: synthesized ECG-QA-format questions, exact match
python - "$DATA_DIR" "$OUT/fold9-qa.json" <<'PY'
import json, random, sys
from pathlib import Path
from ecglm_cli.data.ecgqa import ptbxl_record_exists
from ecglm_cli.data.ptbxl_table import read_label_rows
from ecglm_cli.knowledge.synthesize import synthesize_qa
root, dest = sys.argv[1], sys.argv[2]
rows = read_label_rows(root)
questions = []
for ecg_id, row in sorted(rows.items()):
    if row["strat_fold"] == 9 and ptbxl_record_exists(Path(root), ecg_id):
        questions += synthesize_qa(row, rng=random.Random(ecg_id), sample_start=len(questions))
json.dump(questions, open(dest, "w"))
PY
python -m ecglm_cli evaluate qa --ecgqa "$OUT/fold9-qa.json" --ptbxl "$DATA_DIR" \
  --model "$OUT" --device "$DEVICE" --format json | tee "$OUT/qa-fold9.jsonl"
# per-statement P(yes) thresholds of LM detection, chosen on fold 9 (classify/evaluate --via lm)
python -m ecglm_cli train lm-thresholds --ptbxl "$DATA_DIR" --bundle "$OUT" --val-folds 9 \
  "${LIMIT_ARGS[@]}"
DEST=ecglm_cli/bundles/ecglm-base
mkdir -p "$DEST"
rm -rf "$DEST/lm"
cp -r "$OUT/lm" "$DEST/lm"
cp "$OUT/ecglm.json" "$OUT/projector.safetensors" "$OUT/lm-metrics.jsonl" \
   "$OUT/qa-fold9.jsonl" "$OUT/lm-thresholds.json" "$DEST/"
echo "LM parts written to $DEST ($(du -sh "$DEST" | cut -f1) in all)"
