#!/usr/bin/env bash
# The exact command that produced the shipped bundle ecglm_cli/bundles/ecglm-base.
# Usage: scripts/train_ecglm_base.sh DATA_DIR [DEVICE]
#   DATA_DIR  PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/)
#   DEVICE    auto (default), cpu or cuda
# Folds 1-8 train, fold 9 validates (thresholds, metrics.json); fold 10 is never read.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DATA_DIR [DEVICE]" >&2
  exit 2
fi
DATA_DIR=$1
DEVICE=${2:-auto}
cd "$(dirname "$0")/.."
OUT=runs/ecglm-base
rm -rf "$OUT"
python -m ecglm_cli train encoder \
  --ptbxl "$DATA_DIR" --out "$OUT" --device "$DEVICE" \
  --train-folds 1,2,3,4,5,6,7,8 --val-folds 9 \
  --epochs 40 --batch-size 64 --lr 3e-3 --weight-decay 0.01 \
  --width 64 --kernel-size 5 --window 5 --dropout 0.2 --keep best --seed 0
DEST=ecglm_cli/bundles/ecglm-base
rm -rf "$DEST"
mkdir -p "$DEST"
cp "$OUT"/config.json "$OUT"/model.safetensors "$OUT"/thresholds.json \
   "$OUT"/metrics.json "$OUT"/provenance.json "$DEST"/
echo "shipped bundle written to $DEST ($(du -sh "$DEST" | cut -f1))"
