#!/usr/bin/env bash
# srresnet-x4's GPU stages (3-5), as run on a lent NVIDIA H200 on 2026-11-26, from the repository root:
#   python scripts/pack_for_device.py ../shared/data/train/SunHays80_HR ../shared/data/train/BSDS500_train \
#       ../shared/data/train/BSDS500_test --val ../shared/data/benchmarks/Set5/x4 --budget-mb 44
#   pip download --no-deps --only-binary=:all: -d .device-pack/wheels pypng threadpoolctl   (if the machine lacks them)
#   OUT=out/device bash scripts/device_train.sh        (on the GPU machine, the pack carried along)
# Three short cosine cycles of the cpu-fast recipe's srresnet-crop192 stage at batch 32, each from the
# last one's EMA weights, the first from the CPU-trained srresnet-x4 (stages 1-2). The step counts are
# what scripts/timed_train.py planned for budgets of 3.0, 5.0 and 2.3 minutes there; they are fixed
# here so that the run repeats. Training took 0.97 + 1.43 + 0.42 min (39-47 ms/step with validation and checkpoints).
# Then: python scripts/package_model.py OUT/cycle3.safetensors srresnet-x4 --earlier OUT/cycle1.safetensors \
#   --earlier OUT/cycle2.safetensors --bench ../shared/data/benchmarks --hardware ... --hours ...
set -euo pipefail
source "$(dirname "$0")/device_env.sh"

init=srresnet-x4
cycle=0
for spec in "1491 2e-4 1" "2032 1e-4 2" "535 5e-5 3"; do  # steps, peak learning rate, seed
  read -r steps lr seed <<<"$spec"
  cycle=$((cycle + 1))
  $PY scripts/timed_train.py --recipe cpu-fast --stage srresnet-crop192 --steps "$steps" \
    --set init_generator="$init" --set "data.train=[$PACK/train]" --set data.val="$PACK/val" \
    --set data.batch_size=32 --set data.num_workers="$WORKERS" --set threads=8 --set optim.lr="$lr" --set seed="$seed" \
    --set val_every=500 --set ckpt_every=250 --set log_every=50 \
    --run-dir "runs/device-cycle$cycle" --out "$OUT" --name "cycle$cycle"
  mv "$OUT/metrics.csv" "$OUT/cycle$cycle-metrics.csv"
  init="runs/device-cycle$cycle"
done
