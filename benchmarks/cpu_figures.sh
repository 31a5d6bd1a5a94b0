#!/usr/bin/env bash
# Every CPU figure of docs/speed.md ("Measured on a 2-core AVX2 CPU"), in its order; JSON reports go to
# benchmarks/results/. Takes ~12 minutes on a 2-core machine (AVX2, no native bf16):
# run it when the load is low (uptime), since other processes slow some rounds more than others.
# The bf16 timing runs only where the CPU has native bf16 (AVX512-BF16/AMX): elsewhere PyTorch
# emulates it at a fraction of fp32's speed. bf16's accuracy (benchmarks/bf16_miou.py, ~5 min
# here) does not depend on the hardware and is run by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
python=${PYTHON:-python}
drnet() { "$python" -m drnet.cli "$@"; }

# Inference, ResNet-50 at output stride 8, 1x3x512x512, against torchvision's eager NCHW model.
drnet bench resnet50 --output-stride 8 --input 512x512 --vs torchvision --repeats 7 \
  --output "$out/resnet50_os8_fp32.json"
drnet bench resnet50 --output-stride 8 --input 512x512 --vs torchvision --repeats 7 \
  --malloc-keep --output "$out/resnet50_os8_fp32_malloc_keep.json"
drnet bench resnet50 --output-stride 8 --input 512x512 --vs torchvision --repeats 7 \
  --compile --output "$out/resnet50_os8_fp32_compile.json"
if "$python" -c "import sys, torch; from drnet.bench.environment import environment
sys.exit(not environment(torch.device('cpu'))['bf16_native'])"; then
  drnet bench resnet50 --output-stride 8 --input 512x512 --vs torchvision --repeats 3 \
    --precision bf16 --output "$out/resnet50_os8_bf16.json"
else
  echo "cpu_figures.sh: this CPU has no native bf16; bf16 timing skipped" >&2
fi

# Share of the practical peak (a 1x1 channels_last conv timed in the same run).
drnet bench drnseg_d_22 --input 512x1024 --repeats 5 --output "$out/drnseg_d_22_fp32.json"

# Training memory: per-stage checkpointing against the same step without it.
drnet bench resnet50 --output-stride 8 --input 512x512 --batch 2 --mode train \
  --checkpointing all --repeats 3 --output "$out/resnet50_os8_train_ckpt_all.json"
drnet bench resnet50 --output-stride 8 --input 512x512 --batch 2 --mode train \
  --checkpointing dilated --repeats 3 --output "$out/resnet50_os8_train_ckpt_dilated.json"

# Space-to-batch against native dilated convolutions.
"$python" benchmarks/space_to_batch.py --output "$out/space_to_batch_cpu.json"
