"""Cityscapes fine annotations: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with
``gtFine/{split}/{city}/*_gtFine_labelIds.png``, label ids mapped to the 19 train ids.

torchvision's ``Cityscapes`` finds the pairs and supplies the official class table
(cityscapesScripts' ``labels.py``); drnet sorts the pairs (torchvision keeps ``os.listdir``
order), checks that every label file exists, and maps label ids to train ids, every id that is not
evaluated (``train_id`` 255 or -1) to ``ignore_index``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets import Cityscapes

from drnet.data.images import require_dir
from drnet.data.segmentation.files import INVALID, SegmentationFiles
from drnet.data.transforms import Transform
from drnet.errors import DrnetValueError

SPLITS = ("train", "val", "test")


def cityscapes_label_map(ignore_index: int = 255) -> np.ndarray:
    """label id (0..33) -> train id (0..18) or ``ignore_index``; other values are invalid."""
    label_map = np.full(256, INVALID, dtype=np.int64)
    for c in Cityscapes.classes:
        if c.id >= 0:  # "license plate" (id -1) never occurs in labelIds files
            label_map[c.id] = c.train_id if 0 <= c.train_id < 255 else ignore_index
    return label_map


def cityscapes_dataset(root: str | Path, split: str = "train", *,
                       transforms: Transform | None = None,
                       ignore_index: int = 255) -> SegmentationFiles:
    """The fine-annotation ``split`` of the Cityscapes folder ``root``."""
    if split not in SPLITS:
        raise DrnetValueError(f"Cityscapes split must be one of {SPLITS}, got {split!r}")
    root = require_dir(Path(root), "Cityscapes root")
    require_dir(root / "leftImg8bit" / split, f"Cityscapes {split} images")
    require_dir(root / "gtFine" / split, f"Cityscapes {split} labels")
    reader = Cityscapes(str(root), split=split, mode="fine", target_type="semantic")
    pairs = sorted((Path(image), Path(targets[0]))
                   for image, targets in zip(reader.images, reader.targets, strict=True)
                   if image.endswith("_leftImg8bit.png"))
    return SegmentationFiles([p[0] for p in pairs], [p[1] for p in pairs],
                             label_map=cityscapes_label_map(ignore_index), transforms=transforms,
                             name=f"Cityscapes {split} ({root})")
