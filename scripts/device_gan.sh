#!/usr/bin/env bash
# srresnet-x4's sixth stage and SRGAN-stage trials on a lent GPU, as run on 2026-11-26 (session 5),
# from the repository root:
#   python scripts/pack_for_device.py ...   (as in scripts/device_train.sh; the pack travels along)
#   OUT=out/device bash scripts/device_gan.sh
# 1. One more low-learning-rate cycle of srresnet-x4's srresnet-crop192 stage (cycle 4, after the three of
#    scripts/device_train.sh), from the shipped srresnet-x4: 1000 steps from 5e-5, 0.88 min on one H200.
#    Packaged as srresnet-x4 (Set5 30.93). CYCLE4_STEPS=0 skips it and starts the trials from the
#    packaged srresnet-x4.
# 2. The cpu-fast-srgan recipe, unchanged but for the loss settings of each VARIANTS entry and the data
#    paths (batch 16, 96 px crops, 1500 steps, 1.2-1.5 min each on the H200), one run per entry, each
#    exported (EMA generator only: the discriminator stays on the machine) as soon as it ends, so that
#    a run cut short by the time limit still returns the finished ones. What they gave is in
#    docs/training.md ("Grid artefacts"). At most 8 files come back from a call: 3 variants per call.
set -euo pipefail
source "$(dirname "$0")/device_env.sh"
CYCLE4_STEPS=${CYCLE4_STEPS:-0}
DATA=(--set "data.train=[$PACK/train]" --set data.val="$PACK/val" --set data.num_workers="$WORKERS" --set threads=8)

GAN_INIT=srresnet-x4
if [ "$CYCLE4_STEPS" -gt 0 ]; then  # CYCLE4_STEPS=0 once cycle 4 is the shipped srresnet-x4
  $PY scripts/timed_train.py --recipe cpu-fast --stage srresnet-crop192 --steps "$CYCLE4_STEPS" \
    --set init_generator=srresnet-x4 "${DATA[@]}" --set data.batch_size=32 --set optim.lr=5e-5 --set seed=4 \
    --set val_every=500 --set ckpt_every=500 --set log_every=50 \
    --run-dir runs/device-cycle4 --out "$OUT" --name cycle4
  mv "$OUT/metrics.csv" "$OUT/cycle4-metrics.csv"
  GAN_INIT=runs/device-cycle4
fi

# name:overrides (comma-separated KEY=VALUE), in priority order
# 2026-11-26 (session 9, H100), after the shift/chroma terms; each call ran as
#   set -o pipefail; export VARIANTS="..."; OUT=$OUT timeout 540 bash scripts/device_gan.sh 2>&1 | tr '\r' '\n' | grep -v "it/s]$\|s/it]$" | tee $OUT/log.txt
# call 1: "a45s5:loss.shift_weight=5,loss.shift_samples=8,loss.chroma_weight=3,loss.adversarial_weight=4.5e-3 a6s10:loss.shift_weight=10,loss.shift_samples=8,loss.chroma_weight=3,loss.adversarial_weight=6e-3 a45s10:loss.shift_weight=10,loss.shift_samples=8,loss.chroma_weight=3,loss.adversarial_weight=4.5e-3"
# call 2 (timeout 290): "a6s10-800:loss.shift_weight=10,loss.shift_samples=8,loss.chroma_weight=3,loss.adversarial_weight=6e-3,steps=800 a6s7-800:loss.shift_weight=7,loss.shift_samples=8,loss.chroma_weight=3,loss.adversarial_weight=6e-3,steps=800 a8s10-800:loss.shift_weight=10,loss.shift_samples=8,loss.chroma_weight=3,loss.adversarial_weight=8e-3,steps=800"
# first call: "lat5:loss.lattice_weight=5 lat10:loss.lattice_weight=10 lat5-adv2e-3:loss.lattice_weight=5,loss.adversarial_weight=2e-3 lat5-3000:loss.lattice_weight=5,steps=3000"
VARIANTS=${VARIANTS:-"w16-lw3:loss.lattice_weight=3,loss.lattice_window=16 w16-lw1:loss.lattice_weight=1,loss.lattice_window=16 w32-lw3:loss.lattice_weight=3,loss.lattice_window=32"}
for v in $VARIANTS; do
  name=${v%%:*}; sets=()
  IFS=',' read -ra kv <<<"${v#*:}"
  for s in "${kv[@]}"; do sets+=(--set "$s"); done
  steps=1500
  for s in "${kv[@]}"; do [[ $s == steps=* ]] && steps=${s#steps=}; done
  $PY scripts/timed_train.py --recipe cpu-fast-srgan --steps "$steps" --set init_generator="$GAN_INIT" \
    "${DATA[@]}" --set ckpt_every=500 "${sets[@]}" --run-dir "runs/device-$name" --out "$OUT" --name "gan-$name"
  mv "$OUT/metrics.csv" "$OUT/gan-$name-metrics.csv"
done
