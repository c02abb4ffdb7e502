#!/usr/bin/env bash
# The exact command that produced the shipped classifier bundles in ecglm_cli/bundles/:
# ecglm-base (width 64, the default) and, with BUNDLE=ecglm-small, the fast classifier
# (width 32, a quarter of the arithmetic, scored on non-overlapping 5 s windows: 2 instead of 3
# per 10 s record; no language model is trained for it).
# Usage: [BUNDLE=ecglm-small] scripts/train_ecglm_base.sh DATA_DIR [DEVICE]
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
BUNDLE=${BUNDLE:-ecglm-base}
case "$BUNDLE" in
  ecglm-base) WIDTH=64 STRIDE=2.5 ;;
  ecglm-small) WIDTH=32 STRIDE=5 ;;
  *) echo "BUNDLE must be ecglm-base or ecglm-small" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
OUT=runs/$BUNDLE
rm -rf "$OUT"
python -m ecglm_cli train encoder \
  --ptbxl "$DATA_DIR" --out "$OUT" --device "$DEVICE" \
  --train-folds 1,2,3,4,5,6,7,8 --val-folds 9 \
  --epochs 60 --batch-size 32 --lr 1e-3 --weight-decay 0.01 \
  --width "$WIDTH" --kernel-size 5 --window 5 --stride "$STRIDE" --dropout 0.3 --keep best --seed 0
DEST=ecglm_cli/bundles/$BUNDLE
rm -rf "$DEST"
mkdir -p "$DEST"
cp "$OUT"/config.json "$OUT"/model.safetensors "$OUT"/thresholds.json \
   "$OUT"/metrics.json "$OUT"/provenance.json "$DEST"/
echo "shipped bundle written to $DEST ($(du -sh "$DEST" | cut -f1))"
