"""``drnet demo``: train a dilated DRN and two controls on the synthetic context set."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from drnet.errors import DrnetValueError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults (None) are DemoConfig's: 600 steps, batch 8, 128 px, seed 0.
    parser.add_argument("--steps", type=int, help="training steps per network (600)")
    parser.add_argument("--batch-size", type=int, help="images per step (8)")
    parser.add_argument("--image-size", type=int, help="side of the square images (128)")
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed: initial weights and data stream (0)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="repeat with seeds seed..seed+N-1 and report mean and spread (1)")
    parser.add_argument("--out", default="demo_out",
                        help="folder for the figure (demo.png) and the results (demo.json)")
    parser.add_argument("--quick", action="store_true",
                        help="a few steps on small images: exercises the whole path in seconds")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from drnet.tasks.demo import VARIANTS, run_demo
    from drnet.tasks.demo_figure import save_demo_figure

    start = time.perf_counter()
    config = _config(args)
    # Lightning's per-Trainer notes (devices, tips) would bury the progress bar: six Trainers run.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
    tty = sys.stderr.isatty()
    bar = tqdm(total=config.steps * len(VARIANTS) * args.seeds, unit="step",
               mininterval=0.2 if tty else 20, desc="training", dynamic_ncols=True)

    def on_step(name: str, step: int) -> None:
        bar.set_description(name, refresh=False)
        bar.update(1)

    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        runs.append(run_demo(replace(config, seed=seed), on_step))
    bar.close()
    out = Path(args.out)
    figure = save_demo_figure(out / "demo.png", *runs[0])
    seeds = [list(results) for results, _ in runs]
    print(_table(seeds))
    report = _report(config, args, runs, time.perf_counter() - start)
    (out / "demo.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nfigure: {figure} (seed {args.seed})\nresults: {out / 'demo.json'}"
          f"\ntotal time: {report['total_seconds']:.0f} s")
    return 0


def _config(args: argparse.Namespace) -> Any:
    from drnet.tasks.demo import DemoConfig

    if args.seeds < 1:
        raise DrnetValueError(f"--seeds must be >= 1, got {args.seeds}")
    given = {"steps": args.steps, "batch_size": args.batch_size, "image_size": args.image_size}
    if args.quick:
        if set_flags := [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]:
            raise DrnetValueError(f"--quick sets its own tiny run; drop {', '.join(set_flags)} or "
                                  "--quick")
        return DemoConfig(steps=8, batch_size=4, image_size=64, num_val=8, seed=args.seed,
                          erf_samples=2)
    config = DemoConfig(seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    if min(config.steps, config.batch_size, config.image_size) < 1:
        raise DrnetValueError("--steps, --batch-size and --image-size must be positive")
    return config


def _spread(values: list[float], sign: bool = False) -> str:
    """``80.3`` for one value, ``80.3 ± 1.2`` (mean ± sample standard deviation) for more;
    ``+10.2`` with ``sign``."""
    mean = f"{statistics.mean(values):{'+' if sign else ''}.1f}"
    return mean if len(values) == 1 else f"{mean} ± {statistics.stdev(values):.1f}"


def _table(seeds: list[list[Any]]) -> str:
    from drnet.cli.models import format_table

    first = seeds[0]
    rows = [("network", "output stride", "receptive field", "mIoU", "pixel acc", "train time")]
    for i, result in enumerate(first):
        per_seed = [results[i] for results in seeds]
        rows.append((result.name, str(result.output_stride), f"{result.receptive_field} px",
                     _spread([r.miou for r in per_seed]),
                     _spread([r.pixel_acc for r in per_seed]),
                     f"{statistics.mean(r.seconds for r in per_seed):.0f} s"))
    margins = ", ".join(
        f"{_spread([results[0].miou - results[i].miou for results in seeds], sign=True)} vs "
        f"{r.name}"
        for i, r in enumerate(first) if i > 0)
    label = "" if len(seeds) == 1 else f" (mean ± std over {len(seeds)} seeds)"
    return f"{format_table(rows)}\n\ndilated DRN: {margins} mIoU points{label}"


def _report(config: Any, args: argparse.Namespace, runs: list[tuple[list[Any], Any]],
            seconds: float) -> dict[str, Any]:
    """The run as JSON: configuration, per seed and network the scores, and the marked pixel's
    field (validation sample index, pixel, box in image pixels, whether it reaches the tag)."""
    return {"config": asdict(config), "seeds": list(range(args.seed, args.seed + args.seeds)),
            "total_seconds": seconds,
            "runs": [[{"name": r.name, "output_stride": r.output_stride,
                       "receptive_field": r.receptive_field, "miou": r.miou,
                       "pixel_acc": r.pixel_acc, "train_seconds": r.seconds,
                       "marked_pixel": None if r.field is None else {
                           "sample": shown.sample, "pixel": list(r.field.pixel),
                           "box": [list(b) for b in r.field.box],
                           "tag_distance": r.field.tag_distance,
                           "reaches_tag": r.field.reaches_tag}}
                      for r in results] for results, shown in runs]}
