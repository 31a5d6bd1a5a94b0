"""``drnet bench MODEL``: latency, images/s, GFLOP/s, share of the machine's practical peak (a 1x1
conv and an sgemm) and peak memory, for inference and a training step, optionally against
torchvision, ONNX Runtime and OpenVINO on the same weights and input."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from drnet.cli.info import parse_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered model name, e.g. resnet50 or drnseg_d_22")
    parser.add_argument("--input", default=(512, 512), type=parse_size, metavar="HxW",
                        help="input size (default 512x512)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--output-stride", type=int, help="8, 16 or 32 (ResNets)")
    parser.add_argument("--num-classes", type=int, help="classes (default: the model's own)")
    parser.add_argument("--mode", choices=("inference", "train", "both"), default="inference",
                        help="what to time: inference, a training step, or both")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16", "int8"), default="fp32",
                        help="drnet's precision: weights cast for inference, autocast for "
                             "training; int8: quantized, in an engine, inference only (peers "
                             "always run fp32)")
    parser.add_argument("--engine", choices=("auto", "torch", "onnxruntime", "openvino"),
                        default="auto", help="drnet's inference engine (default auto: the "
                                             "fastest installed on a CPU in fp32 or int8)")
    parser.add_argument("--memory-format", choices=("channels_last", "nchw"),
                        default="channels_last", help="drnet's memory format")
    parser.add_argument("--no-fold-bn", dest="fold_bn", action="store_false",
                        help="keep batch norm layers (inference)")
    parser.add_argument("--compile", action="store_true", help="torch.compile drnet's model")
    parser.add_argument("--space-to-batch", action="store_true",
                        help="run same-dilation runs of blocks undilated on sub-grids")
    parser.add_argument("--checkpointing", choices=("all", "dilated"),
                        help="activation checkpointing of these stages (training); the same "
                             "model without it is timed alongside")
    parser.add_argument("--vs", default="", metavar="PEER[,PEER...]",
                        help="also run these on the same weights and input, interleaved: "
                             "drnet-torch (drnet's fast path in PyTorch), eager (drnet's model "
                             "as built, eager NCHW fp32), torchvision (its "
                             "model of the same architecture, eager), "
                             "onnxruntime, openvino (drnet's ONNX export, engine defaults, fp32)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the peak-memory pass")
    parser.add_argument("--malloc-keep", action="store_true",
                        help="opt-in: glibc malloc keeps freed memory (fewer page faults); "
                             "applies to every model in the process")
    parser.add_argument("--seed", type=int, default=0, help="weights and input seed")
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    parser.add_argument("--output", metavar="FILE", help="also write the JSON report to FILE")


def run(args: argparse.Namespace) -> int:
    import torch

    from drnet.bench.run import BenchConfig, run_bench

    if args.threads:
        torch.set_num_threads(args.threads)
    modes = ("inference", "train") if args.mode == "both" else (args.mode,)
    config = BenchConfig(
        model=args.model, input_size=args.input, batch=args.batch,
        output_stride=args.output_stride, num_classes=args.num_classes,
        precision=args.precision, channels_last=args.memory_format == "channels_last",
        engine=args.engine, fold_bn=args.fold_bn, compile=args.compile,
        space_to_batch=args.space_to_batch,
        checkpointing=args.checkpointing, modes=modes, vs=args.vs, warmup=args.warmup,
        repeats=args.repeats, device=args.device, seed=args.seed, memory=args.memory,
        malloc_keep=args.malloc_keep)
    report = run_bench(config, progress=lambda m: print(f"[drnet bench] {m}", file=sys.stderr,
                                                        flush=True))
    text = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    print(text if args.json else format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    """The report as tables, one per mode, with ratios under each."""
    from drnet.cli.models import format_table

    env = report["environment"]
    n, _, h, w = report["input"]
    lines = [f"{report['model']} (output stride {report['output_stride']}), input {n}x3x{h}x{w}"
             f" on {env['device_name']} ({env['device']}, {env['threads']} threads, torch "
             f"{env['torch']}, bf16 native: {'yes' if env['bf16_native'] else 'no'})"]
    if report["torchvision"]["note"]:
        lines.append(f"torchvision: {report['torchvision']['note']}")
    for mode in ("inference", "train"):
        if mode not in report:
            continue
        part = report[mode]
        rows = [("run", "median ms", "q1-q3 ms", "img/s", "GFLOP/s", "of ceiling", "of sgemm",
                 "peak MB")]
        for r in part["results"]:
            peak = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
            rows.append((r["name"], f"{r['median_s'] * 1e3:.1f}",
                         f"{r['q1_s'] * 1e3:.0f}-{r['q3_s'] * 1e3:.0f}",
                         f"{r['images_per_s']:.2f}", f"{r['gflops_per_s']:.1f}",
                         f"{r['share_of_ceiling']:.0%}", f"{r['share_of_sgemm']:.0%}", peak))
        ceilings = {k: part[k] for k in ("ceiling", "ceiling_fp32", "sgemm") if k in part}
        for key, ceiling in ceilings.items():
            rows.append((key, f"{ceiling['median_s'] * 1e3:.1f}", "", "",
                         f"{ceiling['gflops_per_s']:.1f}", "100%" if key != "sgemm" else "",
                         "100%" if key == "sgemm" else "", ""))
        lines += ["", f"{mode} ({part['flops'] / 1e9:.1f} GFLOP per "
                      f"{'call' if mode == 'inference' else 'step'}):", format_table(rows)]
        lines += [f"  {r['name']}: {r['label']}" for r in part["results"]]
        lines += [f"  {key}: {ceiling['label']}" for key, ceiling in ceilings.items()]
        for name, ratio in part["time_ratios"].items():
            lines.append(f"  time {name.split('/')[0]} / drnet = {ratio:.2f}x (ratio of medians; "
                         f"median of per-round ratios {part['time_ratios_paired'][name]:.2f}x)")
        for name, ratio in part["memory_ratios"].items():
            lines.append(f"  peak memory {name} = {ratio:.2f}")
        if "max_rel_diff_vs_eager_fp32" in part:
            diffs = ", ".join(f"{k} {v:.1e}" for k, v in part["max_rel_diff_vs_eager_fp32"].items())
            lines.append(f"  max relative difference from drnet's eager fp32 output: {diffs}")
            lines.append(f"  first call: {part['first_call_s']:.2f} s")
    return "\n".join(lines)
