"""Native dilated convolutions against space-to-batch execution, interleaved in one process,
both on drnet's fast path (BN folded, channels_last), on the CPU or a GPU. Writes JSON.

    python benchmarks/space_to_batch.py --output benchmarks/results/space_to_batch_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from drnet import create_model
from drnet.bench.environment import environment
from drnet.bench.timing import time_interleaved
from drnet.fast import optimize_for_inference
from drnet.fast.compare import relative_error

CASES = {"resnet50-os8": ("resnet50", {"output_stride": 8}, (512, 512)),
         "drnseg_d_22": ("drnseg_d_22", {}, (512, 1024))}


def measure(case: str, precision: str, repeats: int, device: torch.device) -> dict:
    """Time native against space-to-batch on ``case``; both must agree with each other."""
    name, kwargs, size = CASES[case]
    model = create_model(name, **kwargs).to(device).eval()
    x = torch.randn(1, 3, *size, device=device)
    native = optimize_for_inference(model, dtype=precision)
    s2b = optimize_for_inference(model, dtype=precision, space_to_batch=True)
    with torch.inference_mode():
        diff = relative_error(s2b(x), native(x))
    times = time_interleaved({"native": lambda: native(x), "space-to-batch": lambda: s2b(x)},
                             warmup=1, repeats=repeats, device=device,
                             progress=lambda m: print(f"[{case}] {m}", file=sys.stderr))
    ratio = times["space-to-batch"].median / times["native"].median
    print(f"{case} {size[0]}x{size[1]} {precision}: native {times['native'].median * 1e3:.0f} ms, "
          f"space-to-batch {times['space-to-batch'].median * 1e3:.0f} ms ({ratio:.2f}x the "
          f"time), max relative difference {diff:.1e}")
    return {"input": [1, 3, *size], "native": times["native"].as_dict(),
            "space_to_batch": times["space-to-batch"].as_dict(), "time_s2b_over_native": ratio,
            "max_rel_diff": diff}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default="benchmarks/results/space_to_batch_cpu.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    report = {"environment": environment(device), "precision": args.precision, "cases": {}}
    for case in args.cases:
        report["cases"][case] = measure(case, args.precision, args.repeats, device)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
