"""Does the bf16 fast path change the answers? Train a small DRN on the synthetic context set,
then score the validation split with the eager fp32 model, the fp32 fast path and the bf16 fast
path (issue 5's goal: bf16 mIoU within 0.3 points of fp32). Writes one JSON file.

    python benchmarks/bf16_miou.py --steps 300 --output benchmarks/results/bf16_miou.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from drnet import create_model
from drnet.data import ContextSegmentationDataset
from drnet.data.segmentation.synthetic import MEAN, STD
from drnet.fast import optimize_for_inference
from drnet.tasks.metrics import SegmentationMetrics

_MEAN = torch.tensor(MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(STD).view(1, 3, 1, 1)


def batches(split: str, num: int, batch: int, shuffle: bool) -> DataLoader:
    data = ContextSegmentationDataset(num, seed=0, split=split)
    return DataLoader(data, batch_size=batch, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(0))


def train(model: torch.nn.Module, steps: int, batch: int) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)
    weight = torch.tensor(ContextSegmentationDataset.class_weights)
    model.train()
    step = 0
    while step < steps:
        for sample in batches("train", steps * batch, batch, shuffle=True):
            lr = 0.02 * (1 - step / steps) ** 0.9
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = model((sample["image"] - _MEAN) / _STD)
            loss = F.cross_entropy(logits, sample["mask"], weight=weight, ignore_index=255)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{steps} loss {loss.item():.3f}", file=sys.stderr, flush=True)
            if step == steps:
                return


def miou(model: torch.nn.Module, num_val: int) -> float:
    metrics = SegmentationMetrics(ContextSegmentationDataset.num_classes)
    with torch.inference_mode():
        for sample in batches("val", num_val, 8, shuffle=False):
            logits = model((sample["image"] - _MEAN) / _STD)
            metrics.update(logits.float().softmax(1), sample["mask"])
    return float(metrics.compute()["mIoU"]) * 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="drnseg_d_tiny")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--val", type=int, default=200, help="validation images")
    parser.add_argument("--output", default="benchmarks/results/bf16_miou.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    start = time.time()
    model = create_model(args.model, num_classes=ContextSegmentationDataset.num_classes)
    train(model, args.steps, args.batch)
    model.eval()
    scores = {"eager fp32": miou(model, args.val),
              "fast fp32": miou(optimize_for_inference(model), args.val),
              "fast bf16": miou(optimize_for_inference(model, dtype="bf16"), args.val)}
    report = {"model": args.model, "steps": args.steps, "batch": args.batch, "val_images": args.val,
              "mIoU": scores, "bf16_minus_fp32": scores["fast bf16"] - scores["eager fp32"],
              "seconds": time.time() - start}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    for name, value in scores.items():
        print(f"{name:<11} mIoU {value:.2f}")
    print(f"bf16 - fp32: {report['bf16_minus_fp32']:+.2f} points; wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
