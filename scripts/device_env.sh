# Sourced by scripts/device_train.sh and scripts/device_gan.sh on a lent GPU machine: paths,
# the wheels the machine may lack (pypng, threadpoolctl, carried in the pack), srgan from src/,
# and a line saying which GPU and torch the run got.
PACK=${PACK:-.device-pack}
OUT=${OUT:-out/device}
PY=${PY:-python3}
WORKERS=${WORKERS:-14}
mkdir -p "$OUT"
if ls "$PACK"/wheels/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$PACK"/wheels/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
$PY -c "import torch, srgan; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
