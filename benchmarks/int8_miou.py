"""What does int8 cost in accuracy? Train a segmentation model on the built-in synthetic context
set, quantize it with calibration images from the set's DataModule (drnet.fast.quantize), and
score the validation split with the eager fp32 model and the int8 model in each engine, plus the
agreement of their per-pixel classes. Writes one JSON file.

    python benchmarks/int8_miou.py --output benchmarks/results/int8_miou_drnseg_d_tiny.json
    python benchmarks/int8_miou.py --model drnseg_d_22 --steps 600 \
        --output benchmarks/results/int8_miou_drnseg_d_22.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from drnet import create_model
from drnet.data import SyntheticContextDataModule
from drnet.fast import optimize_for_inference
from drnet.fast.engines import installed
from drnet.fast.quantize import QuantizeConfig
from drnet.tasks.metrics import SegmentationMetrics


def data(args: argparse.Namespace) -> SyntheticContextDataModule:
    module = SyntheticContextDataModule(num_train=args.steps * args.batch, num_val=args.val,
                                        image_size=args.size, batch_size=args.batch,
                                        val_batch_size=8, seed=0)
    module.setup("fit")
    return module


def train(model: torch.nn.Module, module: SyntheticContextDataModule, steps: int,
          lr: float) -> None:
    """AdamW with a one-cycle schedule: the dilated net learns to read the far tags in a few
    hundred steps (shared/notes.md)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    weight = torch.tensor(module.class_weights)
    model.train()
    for step, batch in enumerate(module.train_dataloader(), 1):
        loss = F.cross_entropy(model(batch["image"]), batch["mask"], weight=weight,
                               ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f}", file=sys.stderr, flush=True)
        if step == steps:
            break
    model.eval()


def evaluate(runs: dict[str, Any], module: SyntheticContextDataModule) -> dict[str, Any]:
    """mIoU of each run on the validation split, and its per-pixel agreement with the first."""
    metrics = {name: SegmentationMetrics(module.num_classes) for name in runs}
    agree = dict.fromkeys(runs, 0)
    pixels = 0
    with torch.inference_mode():
        for batch in module.val_dataloader():
            labels = {name: run(batch["image"]).argmax(1) for name, run in runs.items()}
            first = next(iter(labels.values()))
            pixels += first.numel()
            for name, label in labels.items():
                metrics[name].update(label, batch["mask"])
                agree[name] += int((label == first).sum())
    return {name: {"mIoU": float(metrics[name].compute()["mIoU"]) * 100,
                   "agreement_with_fp32": agree[name] / pixels} for name in runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="drnseg_d_tiny")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--size", type=int, default=128, help="image size of the set")
    parser.add_argument("--val", type=int, default=200, help="validation images")
    parser.add_argument("--calibration", type=int, default=300, help="calibration images")
    parser.add_argument("--methods", default="minmax,percentile",
                        help="calibration methods to compare")
    parser.add_argument("--weights", help="load/save the trained weights here (skip training)")
    parser.add_argument("--output", default="benchmarks/results/int8_miou.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    start = time.time()
    module = data(args)
    model = create_model(args.model, num_classes=module.num_classes)
    if args.weights and Path(args.weights).is_file():
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
    else:
        train(model, module, args.steps, args.lr)
        if args.weights:
            torch.save(model.state_dict(), args.weights)
    trained_s = time.time() - start
    runs: dict[str, Any] = {"eager fp32": model}
    kept: dict[str, str] = {}
    for method in args.methods.split(","):
        config = QuantizeConfig(max_images=args.calibration, method=method)
        for engine in ("onnxruntime", "openvino"):
            if installed(engine):
                fast = optimize_for_inference(model, engine=engine, quantize=config,
                                              int8_calibration=module.train_dataloader())
                runs[f"{engine} int8 {method}"] = fast
    if installed("onnxruntime"):
        import onnx

        from drnet.fast.engines.onnx_graph import export_graph
        from drnet.fast.quantize import fp32_nodes

        kept = fp32_nodes(onnx.load_from_string(export_graph(model).data))
    scores = evaluate(runs, module)
    fp32 = scores["eager fp32"]["mIoU"]
    report = {"model": args.model, "steps": args.steps, "batch": args.batch, "lr": args.lr,
              "image_size": args.size, "val_images": args.val,
              "calibration_images": args.calibration, "kept_fp32": kept, "scores": scores,
              "int8_minus_fp32": {k: v["mIoU"] - fp32 for k, v in scores.items()
                                  if k != "eager fp32"},
              "train_s": trained_s, "seconds": time.time() - start}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    for name, value in scores.items():
        print(f"{name:<28} mIoU {value['mIoU']:6.2f}  pixels agreeing with fp32 "
              f"{value['agreement_with_fp32']:.4f}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
