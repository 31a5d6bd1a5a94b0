"""Dynamic shapes or a cache of shape-specialised compilations? And do batched sliding windows
pay on a CPU? Times DRN-D-22 segmentation (19 classes, fp32) in each installed engine with one
dynamic graph (static_shapes=0) and with the first shapes compiled for exactly their size
(static_shapes=4), on whole images of three sizes and on sliding windows (512x512, stride 341,
of a 768x1536 image: 8 windows) one at a time and four at a time; rounds interleaved in one
process. Writes one JSON file.

    python benchmarks/engine_shapes.py --output benchmarks/results/engine_shapes.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from drnet import create_model
from drnet.bench.environment import environment
from drnet.bench.timing import time_interleaved
from drnet.fast import optimize_for_inference
from drnet.fast.engines import installed
from drnet.inference import InferenceConfig, segment

WHOLE_SIZES = ((512, 1024), (480, 960), (544, 1088))
SLIDE = {"image": (768, 1536), "crop": (512, 512), "stride": (341, 341)}


def log(message: str) -> None:
    print(f"[engine shapes {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="drnseg_d_22")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every size (smoke)")
    parser.add_argument("--output", default="benchmarks/results/engine_shapes.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=19).eval()

    def size(hw: tuple[int, int]) -> tuple[int, int]:
        return int(hw[0] * args.scale), int(hw[1] * args.scale)

    images = [torch.randn(1, 3, *size(s)) for s in WHOLE_SIZES]
    big = torch.randn(1, 3, *size(SLIDE["image"]))
    slide = {k: InferenceConfig(mode="slide", crop_size=size(SLIDE["crop"]),
                                stride=size(SLIDE["stride"]), window_batch=k) for k in (1, 4)}
    runs: dict[str, Callable[[], Any]] = {}
    for engine in [e for e in ("onnxruntime", "openvino") if installed(e)]:
        for static in (0, 4):
            log(f"building {engine}, static_shapes={static}")
            # One copy per workload, so each one's cache holds its own shapes only.
            fast = optimize_for_inference(model, engine=engine, static_shapes=static)
            runs[f"{engine} static_shapes={static} whole"] = (
                lambda f: lambda: [f(x) for x in images])(fast)
            for k in (1, 4):
                fast = optimize_for_inference(model, engine=engine, static_shapes=static)
                runs[f"{engine} static_shapes={static} slide window_batch={k}"] = (
                    lambda f, c: lambda: segment(f, big, c))(fast, slide[k])
    torch_fast = optimize_for_inference(model, engine="torch")
    for k in (1, 4):
        runs[f"torch slide window_batch={k}"] = (
            lambda c: lambda: segment(torch_fast, big, c))(slide[k])
    log(f"timing {len(runs)} runs, {args.repeats} rounds")
    times = time_interleaved(runs, warmup=1, repeats=args.repeats, progress=log)
    results = {name: t.as_dict() for name, t in times.items()}
    ratios = {}
    for engine in [e for e in ("onnxruntime", "openvino") if installed(e)]:
        for what in ("whole", "slide window_batch=1", "slide window_batch=4"):
            dynamic = times[f"{engine} static_shapes=0 {what}"].median
            cached = times[f"{engine} static_shapes=4 {what}"].median
            ratios[f"{engine} {what}: dynamic/static"] = dynamic / cached
        for static in (0, 4):
            one = times[f"{engine} static_shapes={static} slide window_batch=1"].median
            four = times[f"{engine} static_shapes={static} slide window_batch=4"].median
            ratios[f"{engine} static_shapes={static}: window_batch 1/4"] = one / four
    ratios["torch: window_batch 1/4"] = (times["torch slide window_batch=1"].median
                                         / times["torch slide window_batch=4"].median)
    report = {"schema": "drnet.engine-shapes/1", "model": args.model,
              "whole_sizes": [list(size(s)) for s in WHOLE_SIZES],
              "slide": {k: list(size(v)) for k, v in SLIDE.items()},
              "environment": environment(torch.device("cpu")), "results": results,
              "time_ratios": ratios}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    for name, t in times.items():
        print(f"{name:<52} {t.median * 1e3:9.1f} ms")
    for name, ratio in ratios.items():
        print(f"{name:<52} {ratio:6.3f}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
