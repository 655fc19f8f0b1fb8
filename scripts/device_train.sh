#!/usr/bin/env bash
# One time-boxed GPU session (run on a lent machine, from the repository root):
#   1. fine-tune srresnet-x4 on 192 px crops for MIN1 minutes (scripts/timed_train.py: the cosine
#      schedule ends when the time does), starting from the packaged srresnet-x4;
#   2. run the cpu-fast-srgan recipe unchanged (same steps, batch and losses) from that result,
#      so that the shipped srgan-x4 and srresnet-x4 stay parent and child.
# Inputs: PACK (made by scripts/pack_for_device.py), OUT (where the exported models and logs go).
# The SRGAN stage is stopped after SRGAN_TIMEOUT seconds at the latest; its last checkpoint is exported.
set -uo pipefail
PACK=${PACK:-.device-pack}
OUT=${OUT:-out/device}
PY=${PY:-python3}
MIN1=${MIN1:-5.5}
BATCH=${BATCH:-32}
LR=${LR:-2e-4}
WORKERS=${WORKERS:-14}
SRGAN_TIMEOUT=${SRGAN_TIMEOUT:-150}
EXTRA2=${EXTRA2:-}
mkdir -p "$OUT"
if ls "$PACK"/wheels/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$PACK"/wheels/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, srgan; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1
date +%T
$PY scripts/timed_train.py --recipe cpu-fast --stage srresnet-crop192 --minutes "$MIN1" --probe-steps 40 \
  --set init_generator=srresnet-x4 --set "data.train=[$PACK/train]" --set data.val=$PACK/val \
  --set data.batch_size=$BATCH --set data.num_workers=$WORKERS --set threads=8 --set optim.lr=$LR \
  --set val_every=1000 --set ckpt_every=1000 --set log_every=100 \
  --run-dir runs/device-srresnet --out "$OUT" --name srresnet-x4 || exit 1
mv "$OUT/metrics.csv" "$OUT/srresnet-metrics.csv"
date +%T
timeout -s TERM "$SRGAN_TIMEOUT" $PY -m srgan.cli train --recipe cpu-fast-srgan --no-progress \
  --set init_generator="$OUT/srresnet-x4.safetensors" --set "data.train=[$PACK/train]" --set data.val=$PACK/val \
  --set data.num_workers=$WORKERS --set threads=8 --set out_dir=runs/device-srgan $EXTRA2
echo "srgan stage exit $?"
$PY -m srgan.cli export-weights runs/device-srgan "$OUT/srgan-x4.safetensors"
cp runs/device-srgan/metrics.csv "$OUT/srgan-metrics.csv"
date +%T
