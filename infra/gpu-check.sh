#!/usr/bin/env bash
# The device check: `make gpu-check` on a GPU machine that has no network and no venv.
# Expects the training frame and its feature list in .gpu/ (copied from a local run).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-.sluice/bench}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export PYTHONUNBUFFERED=1
for batch in 512 8192; do
  python3 -m components.train.gpu_check --frame .gpu/training_frame.parquet \
    --features .gpu/features.json --epochs 4 --batch-size "$batch" \
    --output "$out/gpu_check_batch${batch}.json"
done
