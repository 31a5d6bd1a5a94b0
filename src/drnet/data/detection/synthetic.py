"""The synthetic "shapes" detection set: squares, discs and triangles from 6 to 64 px.

Each sample is drawn on the fly from ``(seed, split, index)``; nothing is stored. An image of
``image_size`` (default 128) holds 3-8 shapes on a noisy grey background, each filled with a
random saturated colour (colour says nothing about the class: only the shape does) and never
touching another. Side lengths are log-uniform in ``object_size`` (6-64 px), so small objects
are common and the set measures what a dense feature map buys.

COCO's size buckets are by box area: small < 32² px, medium 32²-96², large >= 96². At 128 px
with the default 6-64 px shapes, a shape's box is its side squared (triangles: side x height),
so ~70 % of the objects are small, the rest medium and none large (``map_large`` is -1, COCO's
"no such objects"). A detector with an output-stride-32 map has 4 x 4 cells here; most objects
are smaller than one cell.
"""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from drnet.data.detection.samples import finish_detection_sample, to_detection_sample
from drnet.data.transforms import Transform
from drnet.errors import DrnetValueError

CLASS_NAMES: list[str] = ["background", "square", "disc", "triangle"]
SPLITS = ("train", "val", "test")
BACKGROUND_GREY, NOISE, MARGIN = 0.4, 0.08, 2  # shapes keep MARGIN px apart
MEAN = (0.0, 0.0, 0.0)  # images stay in [0, 1]: torchvision's detectors normalise themselves
STD = (1.0, 1.0, 1.0)


class ShapesDetectionDataset(Dataset):
    """``num_samples`` samples ``{"image", "target": {"boxes", "labels"}, "path"}``,
    deterministic by ``(seed, split, index)``; boxes are tight around the drawn pixels."""

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES

    def __init__(self, num_samples: int, image_size: int = 128, seed: int = 0,
                 split: str = "train", *, object_size: tuple[int, int] = (6, 64),
                 num_objects: tuple[int, int] = (3, 8),
                 transforms: Transform | None = None) -> None:
        if num_samples < 1:
            raise DrnetValueError(f"num_samples must be >= 1, got {num_samples}")
        if split not in SPLITS:
            raise DrnetValueError(f"split must be one of {SPLITS}, got {split!r}")
        low, high = object_size
        if not 3 <= low <= high <= image_size - 2 * MARGIN:
            raise DrnetValueError("object_size must be (low, high) with 3 <= low <= high <= "
                                  f"image_size - {2 * MARGIN} = {image_size - 2 * MARGIN}, got "
                                  f"{tuple(object_size)}")
        if not 1 <= num_objects[0] <= num_objects[1]:
            raise DrnetValueError("num_objects must be (low, high) with 1 <= low <= high, got "
                                  f"{tuple(num_objects)}")
        self.num_samples, self.image_size, self.seed, self.split = (
            num_samples, image_size, seed, split)
        self.object_size, self.num_objects = (low, high), tuple(num_objects)
        self.transforms = transforms

    def __len__(self) -> int:
        return self.num_samples

    def generate(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image float32 (3, H, W) in [0, 1], boxes float32 (N, 4) xyxy, labels int64 (N,)."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index])
        size = self.image_size
        image = np.full((3, size, size), BACKGROUND_GREY) + rng.uniform(-NOISE, NOISE,
                                                                         (1, size, size))
        count = rng.integers(self.num_objects[0], self.num_objects[1] + 1)
        sides = np.exp(rng.uniform(*np.log(self.object_size), count)).round().astype(int)
        boxes: list[list[int]] = []
        labels: list[int] = []
        for side in sorted(sides, reverse=True):  # big ones first: they are hardest to place
            label = int(rng.integers(1, len(CLASS_NAMES)))
            shape = _draw(label, int(side))
            height, width = shape.shape
            for _ in range(20):
                y0 = int(rng.integers(0, size - height + 1))
                x0 = int(rng.integers(0, size - width + 1))
                if not any(_near((x0, y0, x0 + width, y0 + height), b) for b in boxes):
                    break
            else:
                continue  # no room left for it: the image simply holds fewer shapes
            colour = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1.0),
                                         rng.uniform(0.7, 1.0))
            window = image[:, y0:y0 + height, x0:x0 + width]
            window[:, shape] = np.asarray(colour)[:, None] + rng.uniform(
                -NOISE / 2, NOISE / 2, (1, int(shape.sum())))
            boxes.append([x0, y0, x0 + width, y0 + height])
            labels.append(label)
        return (np.clip(image, 0, 1).astype(np.float32),
                np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                np.asarray(labels, dtype=np.int64))

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, boxes, labels = self.generate(index)
        sample = to_detection_sample(
            torch.from_numpy(image), torch.from_numpy(boxes), torch.from_numpy(labels),
            f"synthetic-shapes/{self.split}/seed{self.seed}/{index:06d}.png")
        if self.transforms is not None:
            sample = self.transforms(sample)
        return finish_detection_sample(sample)


def _draw(label: int, side: int) -> np.ndarray:
    """Boolean pixels of a shape of ``side`` px, cropped to its tight box (pixel centres)."""
    centre = (np.arange(side) + 0.5)
    y, x = centre[:, None], centre[None, :]
    if label == 1:  # square
        shape = np.ones((side, side), dtype=bool)
    elif label == 2:  # disc
        shape = (x - side / 2) ** 2 + (y - side / 2) ** 2 <= (side / 2) ** 2
    else:  # triangle: apex at the top centre, base along the bottom
        shape = np.abs(x - side / 2) <= y / 2
    rows, cols = shape.any(axis=1), shape.any(axis=0)
    return shape[rows][:, cols]


def _near(a: tuple[int, int, int, int], b: list[int]) -> bool:
    """Whether two xyxy boxes come within MARGIN px of each other."""
    return not (a[2] + MARGIN <= b[0] or b[2] + MARGIN <= a[0]
                or a[3] + MARGIN <= b[1] or b[3] + MARGIN <= a[1])
