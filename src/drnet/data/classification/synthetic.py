"""A tiny synthetic classification set for tests and defaults: oriented gratings.

Sample ``(seed, split, index)`` is a sinusoidal grating whose *orientation* is the class:
class ``k`` of ``num_classes`` is oriented at ``k * 180 / num_classes`` degrees. Frequency, phase,
contrast, colour and noise are random and independent of the class, so only the orientation
tells the class apart (a small convnet learns it in a few hundred steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from drnet.data.segmentation.synthetic import SPLITS
from drnet.errors import DrnetValueError

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


class GratingClassification(Dataset):
    """``num_samples`` samples ``{"image": float (3, S, S) in [0, 1], "target": int}``,
    deterministic by ``(seed, split, index)``; the class is the index modulo ``num_classes``
    (balanced), the rest is random."""

    def __init__(self, num_samples: int, num_classes: int = 4, image_size: int = 32,
                 seed: int = 0, split: str = "train",
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        if num_samples < 1 or num_classes < 2 or image_size < 8:
            raise DrnetValueError("need num_samples >= 1, num_classes >= 2 and image_size >= 8, "
                                  f"got {num_samples}, {num_classes}, {image_size}")
        if split not in SPLITS:
            raise DrnetValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.num_samples, self.num_classes, self.image_size = num_samples, num_classes, image_size
        self.seed, self.split, self.transform = seed, split, transform
        self.class_names = [f"{round(k * 180 / num_classes)} deg" for k in range(num_classes)]
        coords = np.arange(image_size) - (image_size - 1) / 2
        self._y, self._x = np.meshgrid(coords, coords, indexing="ij")

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index])
        target = index % self.num_classes
        angle = np.pi * target / self.num_classes
        frequency = rng.uniform(0.12, 0.3)  # cycles per pixel
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * frequency * (self._x * np.cos(angle) + self._y * np.sin(angle))
                      + phase)
        low, high = rng.uniform(0, 0.4, 3), rng.uniform(0.6, 1, 3)  # per-channel colour range
        image = low[:, None, None] + (high - low)[:, None, None] * (wave + 1) / 2
        image += rng.normal(0, 0.05, image.shape)
        tensor = torch.from_numpy(image.clip(0, 1).astype(np.float32))
        if self.transform is not None:
            tensor = self.transform(tensor)
        return {"image": tensor, "target": target}
