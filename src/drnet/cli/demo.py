"""``drnet demo``: train a dilated DRN and two controls on the synthetic context set."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults (None) are DemoConfig's: 200 steps, batch 16, 128 px, seed 0 (~4.5 min here).
    parser.add_argument("--steps", type=int, help="training steps per network (200)")
    parser.add_argument("--batch-size", type=int, help="images per step (16)")
    parser.add_argument("--image-size", type=int, help="side of the square images (128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="demo_out", help="folder for the PNG grid")
    parser.add_argument("--quick", action="store_true",
                        help="a few steps on small images: exercises the whole path in seconds")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from drnet.cli.models import format_table
    from drnet.tasks.demo import VARIANTS, DemoConfig, run_demo, save_grid

    given = {"steps": args.steps, "batch_size": args.batch_size, "image_size": args.image_size}
    config = DemoConfig(seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    if args.quick:
        config = DemoConfig(steps=8, batch_size=4, image_size=64, num_val=8, seed=args.seed)
    if min(config.steps, config.batch_size, config.image_size) < 1:
        raise ValueError("--steps, --batch-size and --image-size must be positive")
    # Lightning's per-Trainer notes (devices, tips) would bury the progress bar: six Trainers run.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
    tty = sys.stderr.isatty()
    bar = tqdm(total=config.steps * len(VARIANTS), unit="step", mininterval=0.2 if tty else 20,
               desc="training", dynamic_ncols=True)

    def on_step(name: str, step: int) -> None:
        bar.set_description(name, refresh=False)
        bar.update(1)

    results, shown = run_demo(config, on_step)
    bar.close()
    rows = [("network", "output stride", "receptive field", "mIoU", "pixel acc", "train time")]
    rows += [(r.name, str(r.output_stride), f"{r.receptive_field} px", f"{r.miou:.1f}",
              f"{r.pixel_acc:.1f}", f"{r.seconds:.0f} s") for r in results]
    print(format_table(rows))
    best, *others = results
    margins = ", ".join(f"{best.miou - r.miou:+.1f} vs {r.name}" for r in others)
    print(f"\ndilated DRN: {margins} mIoU points")
    grid = save_grid(Path(args.out) / "demo_predictions.png", results, shown)
    print(f"predictions: {grid}")
    return 0
