"""The GPU benchmark of issue 5: one H100/H200-class GPU, end to end in under 8 minutes.

For DRN-D-22 and DRN-D-105 segmentation and ResNet-50 at output stride 8, all at 1x3x1024x2048:
torchvision (where it has the architecture) against drnet, native against space-to-batch,
fp32 against bf16, all channels_last, interleaved in one process; images/s and peak memory per
run; sliding-window inference of DRN-D-22 on a 1024x2048 image with 1, 6 and all 18 windows per
forward pass (fp32, bf16); then a ResNet-50 OS8 training step with and without activation
checkpointing. Writes one JSON file. drnet's engines (ONNX Runtime's CPU provider, OpenVINO's
CPU plugin, their int8) are CPU paths and do not apply here; TensorRT is not part of drnet.
``--cpu-smoke`` runs the same code on tiny models and inputs on the CPU (seconds), which is what
the test suite does; it says nothing about speed.

    python benchmarks/gpu.py --output benchmarks/results/gpu.json
    python benchmarks/gpu.py --cpu-smoke --output /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from drnet import create_model
from drnet.bench.environment import environment
from drnet.bench.flops import count_flops
from drnet.bench.memory import peak_memory
from drnet.bench.run import BenchConfig, run_bench
from drnet.bench.timing import time_interleaved
from drnet.bench.torchvision_twin import NotComparableError, torchvision_twin
from drnet.fast import optimize_for_inference
from drnet.fast.compare import relative_error
from drnet.inference import InferenceConfig, segment

FULL = {"models": [("drnseg_d_22", {}), ("drnseg_d_105", {}), ("resnet50", {"output_stride": 8})],
        "size": (1024, 2048), "batch": 1, "warmup": 3, "repeats": 10,
        "train": ("resnet50", {"output_stride": 8}, (512, 512), 8),
        "slide": ("drnseg_d_22", (1024, 2048), (512, 512), (341, 341), (1, 6, 18))}
SMOKE = {"models": [("drnseg_d_tiny", {}), ("resnet18", {})],  # resnet18: a torchvision twin
         "size": (32, 48), "batch": 1, "warmup": 0, "repeats": 1,
         "train": ("resnet18", {}, (32, 32), 2),
         "slide": ("drnseg_d_tiny", (40, 72), (24, 24), (16, 16), (1, 4))}


def log(message: str) -> None:
    print(f"[gpu bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def inference_runs(name: str, kwargs: dict[str, Any], plan: dict[str, Any],
                   device: torch.device) -> dict[str, Any]:
    """Every variant of one model, timed in turn on the same input."""
    model = create_model(name, **kwargs).to(device).eval()
    x = torch.randn(plan["batch"], 3, *plan["size"], device=device)
    runs: dict[str, Any] = {}
    try:
        twin = torchvision_twin(name, model).to(device)
        runs["torchvision fp32 NCHW"] = twin
        runs["torchvision fp32 channels_last"] = copy.deepcopy(twin).to(
            memory_format=torch.channels_last)
        note = None
    except NotComparableError as err:
        note = str(err)
    for dtype in ("fp32", "bf16"):
        for s2b in (False, True):
            label = f"drnet {dtype} channels_last{' space-to-batch' if s2b else ''}"
            runs[label] = optimize_for_inference(model, dtype=dtype, space_to_batch=s2b,
                                                 engine="torch")  # --cpu-smoke: not an engine
    inputs = {label: x.contiguous(memory_format=torch.channels_last)
              if "channels_last" in label else x for label in runs}

    def call(label: str) -> Any:
        def go() -> Any:
            with torch.inference_mode():
                return runs[label](inputs[label])
        return go

    with torch.inference_mode():
        reference = model(x)
        errors = {label: relative_error(call(label)(), reference) for label in runs}
        flops = count_flops(lambda: model(x))
    log(f"{name}: timing {len(runs)} variants")
    times = time_interleaved({label: call(label) for label in runs}, warmup=plan["warmup"],
                             repeats=plan["repeats"], device=device, progress=log)
    results = []
    for label in runs:
        t = times[label]
        results.append({"run": label, **t.as_dict(), "images_per_s": plan["batch"] / t.median,
                        "gflops_per_s": flops / t.median / 1e9,
                        "peak_mem_mb": peak_memory(call(label), device) / 2**20,
                        "max_rel_diff_vs_eager_fp32": errors[label]})
    return {"model": name, "kwargs": kwargs, "input": [plan["batch"], 3, *plan["size"]],
            "flops": flops, "torchvision_note": note, "results": results}


def sliding_runs(plan: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Sliding-window inference with the windows run one at a time and in batches (issue 14:
    the main speed-up on GPUs), fp32 and bf16; the engines (ONNX Runtime, OpenVINO) are CPU
    paths here and do not apply."""
    name, image_size, crop, stride, batches = plan["slide"]
    model = create_model(name, num_classes=19).to(device).eval()
    x = torch.randn(1, 3, *image_size, device=device)
    runs = {}
    for dtype in ("fp32", "bf16"):
        fast = optimize_for_inference(model, dtype=dtype, engine="torch")
        for k in batches:
            config = InferenceConfig(mode="slide", crop_size=crop, stride=stride, window_batch=k)
            runs[f"{dtype} window_batch={k}"] = (lambda f, c: lambda: segment(f, x, c))(fast,
                                                                                     config)
    log(f"sliding windows: {name} {image_size}, {crop} windows, timing {len(runs)} variants")
    times = time_interleaved(runs, warmup=plan["warmup"], repeats=plan["repeats"],
                             device=device, progress=log)
    results = [{"run": label, **t.as_dict(), "images_per_s": 1 / t.median}
               for label, t in times.items()]
    return {"model": name, "image": list(image_size), "crop": list(crop),
            "stride": list(stride), "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results/gpu.json", help="JSON file")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="tiny models and inputs on the CPU: checks the script runs")
    parser.add_argument("--device", default="cuda", help="default cuda (cpu with --cpu-smoke)")
    args = parser.parse_args(argv)
    plan = SMOKE if args.cpu_smoke else FULL
    device = torch.device("cpu" if args.cpu_smoke else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or use --cpu-smoke")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest kernel per shape, as users do
    start = time.time()
    report: dict[str, Any] = {"schema": "drnet.gpu-bench/1", "environment": environment(device),
                              "inference": [], "train": None}
    for name, kwargs in plan["models"]:
        report["inference"].append(inference_runs(name, kwargs, plan, device))
    report["sliding"] = sliding_runs(plan, device)
    name, kwargs, size, batch = plan["train"]
    log(f"training step: {name} {size} batch {batch}, checkpointing all vs none")
    report["train"] = run_bench(BenchConfig(
        model=name, output_stride=kwargs.get("output_stride"), input_size=size, batch=batch,
        precision="bf16", checkpointing="all", modes=("train",), warmup=plan["warmup"],
        repeats=max(plan["repeats"] // 2, 1), device=str(device)), progress=log)["train"]
    report["seconds"] = time.time() - start
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    for r in report["sliding"]["results"]:
        print(f"sliding windows {r['run']:<24} {r['images_per_s']:8.2f} img/s")
    for part in report["inference"]:
        print(f"\n{part['model']} {part['input']}:")
        for r in part["results"]:
            print(f"  {r['run']:<40} {r['images_per_s']:8.2f} img/s  "
                  f"{r['peak_mem_mb']:8.0f} MB  diff {r['max_rel_diff_vs_eager_fp32']:.1e}")
    print(f"\nwrote {args.output} in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
