"""DC5 vs output stride 32: the same Faster R-CNN on ResNet-18, trained the same way on the
synthetic shapes set, once with layer4 dilated (one map at stride 16) and once undilated
(stride 32). Prints COCO mAP by object size; small objects are where the dilated map helps.

    python benchmarks/detection_dc5_vs_os32.py [--steps 600] [--seed 0] [--out DIR]

Each run is ``drnet fit --config configs/detection_synthetic_fasterrcnn_resnet18_dc5.yaml``
with only ``model_kwargs.output_stride`` changed (same data stream, schedule and seed).
``--output-strides 16`` / ``32`` runs one of them (e.g. two processes in parallel);
``--report`` only prints the table from the runs found in ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import yaml

from drnet.cli import main
from drnet.configs import CONFIG_DIR

CONFIG = CONFIG_DIR / "detection_synthetic_fasterrcnn_resnet18_dc5.yaml"
COLUMNS = ("map", "map_50", "map_75", "map_small", "map_medium", "mar_100")


def run(output_stride: int, steps: int, seed: int, out: Path) -> None:
    """Fit one variant into ``out/os<stride>`` and record its wall time."""
    root = out / f"os{output_stride}"
    root.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(CONFIG.read_text())
    config["model"]["init_args"]["model_kwargs"]["output_stride"] = output_stride
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    start = time.monotonic()
    main(["fit", "--config", str(config_file), "--trainer.max_steps", str(steps),
          "--trainer.val_check_interval", str(min(200, steps)), "--seed_everything", str(seed),
          "--trainer.default_root_dir", str(root), "--trainer.accelerator", "cpu"])
    (root / "wall_s.txt").write_text(f"{time.monotonic() - start:.0f}\n")


def last_validation(root: Path) -> dict[str, float]:
    """The last logged ``val/*`` row of a run's CSV log."""
    files = sorted(root.glob("version_*/logs/version_*/metrics.csv"),
                   key=lambda p: p.stat().st_mtime_ns)  # drnet fit's run folders
    if not files:
        raise FileNotFoundError(f"no CSV log under {root}: run it first")
    with files[-1].open() as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("val/map")]
    # Lightning logs a validation at the index of the last step taken: steps taken = index + 1.
    return {key: float(rows[-1][f"val/{key}"]) for key in COLUMNS} | {"step": float(
        rows[-1]["step"]) + 1}


def report(out: Path) -> str:
    """A Markdown table of every run found in ``out``, also written to ``results.json``."""
    results = {}
    for root in sorted(out.glob("os*"), key=lambda p: int(p.name[2:])):
        results[root.name] = last_validation(root)
        wall = root / "wall_s.txt"
        if wall.is_file():
            results[root.name]["wall_s"] = float(wall.read_text())
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| output stride | " + " | ".join(COLUMNS) + " | steps | wall (s) |",
             "|---" * (len(COLUMNS) + 3) + "|"]
    for name, r in results.items():
        cells = " | ".join(f"{100 * r[k]:.1f}" if r[k] >= 0 else "-" for k in COLUMNS)
        lines.append(f"| {name[2:]} | {cells} | {r['step']:.0f} | {r.get('wall_s', 0):.0f} |")
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/detection_dc5_vs_os32"))
    parser.add_argument("--output-strides", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--report", action="store_true", help="only print the table")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    if not args.report:
        for stride in args.output_strides:
            run(stride, args.steps, args.seed, args.out)
    print(report(args.out))
