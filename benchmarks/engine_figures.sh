#!/usr/bin/env bash
# The "Engines and int8" figures of docs/speed.md, JSON reports in benchmarks/results/
# Every timing is one drnet bench run: drnet's default CPU path and its peers on the same
# weights and input, rounds interleaved in one process. Run when `uptime` shows a low load.
# ~15 minutes on the project's 2-core machine; the int8 mIoU runs train first (see each line).
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
python=${PYTHON:-python}
drnet() { "$python" -m drnet.cli "$@"; }

# fp32: drnet's default path (engine auto) against its own torch path, the eager baseline
# (torchvision's model; DRNs: drnet's model as built), ONNX Runtime and OpenVINO.
drnet bench resnet50 --output-stride 8 --input 512x512 --repeats 5 --no-memory \
  --vs drnet-torch,torchvision,onnxruntime,openvino --output "$out/engines_resnet50_os8_fp32.json"
drnet bench drnseg_d_22 --input 512x1024 --repeats 5 --no-memory \
  --vs drnet-torch,eager,onnxruntime,openvino --output "$out/engines_drnseg_d_22_fp32.json"

# int8 (calibrated on random images: speed only) in each engine, against the same fp32 peers.
for engine in onnxruntime openvino; do
  drnet bench resnet50 --output-stride 8 --input 512x512 --repeats 5 --no-memory \
    --precision int8 --engine "$engine" --vs torchvision,onnxruntime,openvino \
    --output "$out/engines_resnet50_os8_int8_$engine.json"
  drnet bench drnseg_d_22 --input 512x1024 --repeats 5 --no-memory \
    --precision int8 --engine "$engine" --vs eager,onnxruntime,openvino \
    --output "$out/engines_drnseg_d_22_int8_$engine.json"
done

# Dynamic graph vs cached static shapes; batched sliding windows on a CPU.
"$python" benchmarks/engine_shapes.py --output "$out/engine_shapes.json"

# int8 accuracy: validation mIoU of fp32 and int8 on the synthetic context set.
"$python" benchmarks/int8_miou.py --output "$out/int8_miou_drnseg_d_tiny.json"  # ~3 min
"$python" benchmarks/int8_miou.py --model drnseg_d_22 --steps 300 --size 96 --lr 1e-3 \
  --methods minmax --output "$out/int8_miou_drnseg_d_22.json"  # ~10 min
