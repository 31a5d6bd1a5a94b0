"""The official DRN list layout (fyu/drn ``segment.py``): a folder with ``info.json``
(``{"mean": [r, g, b], "std": [r, g, b]}`` in [0, 1]), ``{split}_images.txt`` and, for labelled
splits, ``{split}_labels.txt``; one path per line, relative to the folder; labels are train-id PNGs
(255 = ignore).
"""

from __future__ import annotations

import json
from pathlib import Path

from drnet.data.images import require_dir
from drnet.data.segmentation.files import SegmentationFiles, identity_label_map
from drnet.data.transforms import Transform
from drnet.errors import DrnetValueError


def read_info(root: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` from ``root/info.json``, each three numbers in [0, 1] (std > 0)."""
    path = Path(root) / "info.json"
    if not path.is_file():
        raise FileNotFoundError(f"DRN list layout: {path} does not exist (it holds the "
                                "dataset's mean and std)")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DrnetValueError(f"{path} is not valid JSON: {err}") from None
    stats = []
    for key in ("mean", "std"):
        value = info.get(key) if isinstance(info, dict) else None
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in value)
                or (key == "std" and min(value) <= 0)):
            raise DrnetValueError(f"{path}: {key!r} must be a list of 3 numbers in [0, "
                                  f"1]{' (> 0)' if key == 'std' else ''}, got {value!r}")
        stats.append(tuple(float(v) for v in value))
    return stats[0], stats[1]


def read_list(path: Path) -> list[str]:
    """The non-blank lines of a list file, stripped."""
    if not path.is_file():
        raise FileNotFoundError(f"DRN list layout: list file {path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def drn_list_dataset(root: str | Path, split: str = "train", *, num_classes: int,
                     transforms: Transform | None = None,
                     ignore_index: int = 255) -> SegmentationFiles:
    """Images of ``{split}_images.txt``, with the masks of ``{split}_labels.txt`` if it exists."""
    root = require_dir(Path(root), "DRN list root")
    images = read_list(root / f"{split}_images.txt")
    label_file = root / f"{split}_labels.txt"
    masks = read_list(label_file) if label_file.is_file() else None
    if masks is not None and len(masks) != len(images):
        raise DrnetValueError(f"{label_file} has {len(masks)} lines but {split}_images.txt has "
                              f"{len(images)}: line i of each must name the same sample")
    return SegmentationFiles([root / p for p in images],
                             None if masks is None else [root / p for p in masks],
                             label_map=identity_label_map(num_classes, ignore_index),
                             transforms=transforms, name=f"DRN list {split} ({root})")
