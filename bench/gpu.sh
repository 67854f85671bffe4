#!/usr/bin/env bash
# One prepared run for a lent H100/H200 (under 8 minutes): SimCLR ResNet-50 224x224,
# mixed bfloat16 + XLA images/s; augmentation in tf.data vs on the device; the
# fraction of the card's bf16 peak. Needs TensorFlow with CUDA there (the workplace's
# device image has none; its tensorflow[and-cuda] wheels exceed what a call can carry).
# Usage (repo root): bash bench/gpu.sh [OUT_DIR]   -> OUT_DIR/gpu.jsonl and gpu.log
set -uo pipefail
out="${1:-${OUT:-/tmp/sslzoo_gpu}}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
# setup.py maps models/ train/ export/ into sslzoo.*; without an install, rebuild that layout.
if ! python3 -c "import sslzoo.models" 2>/dev/null; then
  site=/tmp/sslzoo_site; rm -rf "$site"; mkdir -p "$site"; cp -r sslzoo "$site/sslzoo"
  for d in models train export; do ln -s "$PWD/$d" "$site/sslzoo/$d"; done
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -c "import tensorflow as tf; print('tf', tf.__version__, tf.config.list_physical_devices('GPU'))" 2>&1 | tee "$out/gpu.log" || exit 3
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee -a "$out/gpu.log"
# Smaller settings for a CPU smoke test: ARCH=resnet18 SIZE=64 BATCH=4 STEPS=1 WARMUP=1.
for mode in step augment_tfdata augment_device; do
  timeout 150 python3 bench/gpu_step.py --mode "$mode" --arch "${ARCH:-resnet50}" --size "${SIZE:-224}" \
    --batch "${BATCH:-256}" --warmup "${WARMUP:-3}" --steps "${STEPS:-20}" \
    2>>"$out/gpu.log" | tee -a "$out/gpu.jsonl"
done
