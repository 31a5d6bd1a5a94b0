"""Pascal VOC 2012 segmentation: ``VOCdevkit/VOC2012/{JPEGImages,SegmentationClass}`` listed by
``ImageSets/Segmentation/{split}.txt``.

torchvision's ``VOCSegmentation`` (``download=False``) resolves the list; drnet checks that every
listed file exists. The masks are palette PNGs whose *indices* are the classes (0 = background,
1..20 the objects, 255 = the "void" border), so they are read as indices, never as colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets import VOCSegmentation

from drnet.data.images import require_dir
from drnet.data.segmentation.files import SegmentationFiles, identity_label_map
from drnet.data.transforms import Transform
from drnet.errors import DrnetValueError

SPLITS = ("train", "val", "trainval")
VOC_CLASSES: list[str] = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]


def voc_colormap(size: int = 256) -> list[tuple[int, int, int]]:
    """The VOC devkit's colour map (``VOClabelcolormap.m``): the bits of the index, three at a
    time, spread from the most significant bit of red, green and blue."""
    index = np.arange(size)
    rgb = np.zeros((size, 3), dtype=np.int64)
    for shift in range(8):
        for channel in range(3):
            rgb[:, channel] |= ((index >> (3 * shift + channel)) & 1) << (7 - shift)
    return [(int(r), int(g), int(b)) for r, g, b in rgb]


VOC_PALETTE: list[tuple[int, int, int]] = voc_colormap(len(VOC_CLASSES))


def voc_dataset(root: str | Path, split: str = "train", *, transforms: Transform | None = None,
                ignore_index: int = 255) -> SegmentationFiles:
    """The VOC 2012 segmentation ``split``; ``root`` is the folder that holds ``VOCdevkit``."""
    if split not in SPLITS:
        raise DrnetValueError(f"VOC split must be one of {SPLITS}, got {split!r}")
    base = require_dir(Path(root), "VOC root") / "VOCdevkit" / "VOC2012"
    require_dir(base, "VOC 2012 (expected root/VOCdevkit/VOC2012)")
    list_file = base / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not list_file.is_file():
        raise FileNotFoundError(f"VOC {split} list: file {list_file} does not exist")
    reader = VOCSegmentation(str(root), year="2012", image_set=split, download=False)
    keep = [i for i, image in enumerate(reader.images) if Path(image).stem]  # blank lines
    return SegmentationFiles([reader.images[i] for i in keep], [reader.masks[i] for i in keep],
                             label_map=identity_label_map(len(VOC_CLASSES), ignore_index),
                             transforms=transforms, name=f"VOC {split} ({list_file})")
