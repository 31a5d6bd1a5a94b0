#!/usr/bin/env bash
# The README's "Choosing a model" figures: inference time and peak memory of each segmentation
# model at output strides 8, 16 and 32, one 512x512 image, one CPU thread, PyTorch path
# (BN folded, channels_last). JSON reports go to benchmarks/results/choose_<model>_os<N>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
for model in drnseg_resnet18 drnseg_resnet50 drnseg_resnet101 drnseg_d_22 drnseg_d_38 drnseg_d_105; do
    for os in 8 16 32; do
        drnet bench "$model" --output-stride "$os" --input 512x512 --engine torch --threads 1 \
            --repeats 3 --json --output "benchmarks/results/choose_${model}_os${os}.json" > /dev/null
    done
done
