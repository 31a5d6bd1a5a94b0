"""Train at one output stride, evaluate at another (DeepLabv3's protocol): what it costs and
what it gives. Trains a ResNet-18 DeepLabV3 at output stride 16 on the built-in context set,
then scores the validation split with the same weights at 32, 16 and 8
(``drnet.with_output_stride``): mIoU, time per image and peak activation memory, measured in
one process. Writes one JSON file.

    python benchmarks/eval_output_stride.py --steps 300 --output benchmarks/results/eval_os.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from drnet import create_model, with_output_stride
from drnet.bench.memory import peak_memory
from drnet.data import ContextSegmentationDataset

sys.path.insert(0, str(Path(__file__).parent))
from bf16_miou import _MEAN, _STD, miou, train


def seconds_per_image(model: torch.nn.Module, size: int, rounds: int = 5) -> float:
    x = torch.randn(1, 3, size, size)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(rounds):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3_resnet18")
    parser.add_argument("--train-stride", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--val", type=int, default=128, help="validation images")
    parser.add_argument("--output", default="benchmarks/results/eval_output_stride.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    start = time.time()
    model = create_model(args.model, num_classes=ContextSegmentationDataset.num_classes,
                         output_stride=args.train_stride)
    train(model, args.steps, args.batch)
    model.eval()
    size = ContextSegmentationDataset(1, seed=0, split="val")[0]["image"].shape[-1]
    rows = {}
    for stride in (32, 16, 8):
        net = with_output_stride(model, stride).eval()
        x = (torch.rand(1, 3, size, size) - _MEAN) / _STD

        def forward(net: torch.nn.Module = net, x: torch.Tensor = x) -> torch.Tensor:
            with torch.inference_mode():
                return net(x)

        rows[stride] = {"mIoU": miou(net, args.val),
                        "ms_per_image": 1000 * seconds_per_image(net, size),
                        "peak_MiB": peak_memory(forward) / 2**20}
    report = {"model": args.model, "trained_at": args.train_stride, "steps": args.steps,
              "image_size": size, "val_images": args.val, "evaluated_at": rows,
              "seconds": time.time() - start}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    base = rows[args.train_stride]
    print(f"{args.model} trained at output stride {args.train_stride} for {args.steps} steps; "
          f"{args.val} validation images of {size}x{size}")
    print("eval stride  mIoU   ms/image  peak MiB   vs trained stride")
    for stride, row in rows.items():
        print(f"{stride:>11}  {row['mIoU']:5.1f}  {row['ms_per_image']:8.1f}  "
              f"{row['peak_MiB']:8.1f}   {row['mIoU'] - base['mIoU']:+.1f} mIoU, "
              f"{row['ms_per_image'] / base['ms_per_image']:.2f}x time, "
              f"{row['peak_MiB'] / base['peak_MiB']:.2f}x memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
