"""Detection samples: the sample/batch contract, paired image+box transforms and collation.

A sample is ``{"image": float (3, H, W), "target": {"boxes": float (N, 4) xyxy in pixels,
"labels": int64 (N,)}, "path": str}``; label 0 is the background and never occurs in a target
(torchvision's convention), so a data set with K classes has ``num_classes = K + 1``. A batch
holds the same keys as lists (images keep their own sizes; torchvision's detectors resize and
pad them). Unlabelled (predict) samples have no ``target``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from drnet.models.preprocessing import UnitFloat

Sample = dict[str, Any]


def to_detection_sample(image: Tensor, boxes: Tensor, labels: Tensor, path: str) -> Sample:
    """Wrap an image (3, H, W) and its xyxy boxes as tv_tensors, so v2 transforms move the
    boxes with the image."""
    height, width = image.shape[-2:]
    return {"image": tv_tensors.Image(image),
            "target": {"boxes": tv_tensors.BoundingBoxes(
                boxes.reshape(-1, 4).float(), format="XYXY", canvas_size=(height, width)),
                "labels": labels.reshape(-1).to(torch.int64)},
            "path": path}


def _target_labels(sample: Sample) -> Tensor:
    # module level, so the transform pickles into DataLoader workers
    return sample["target"]["labels"]


def detection_transforms(mean: Sequence[float], std: Sequence[float], *,
                         flip: bool = False) -> v2.Compose:
    """(Random horizontal flip) -> float in [0, 1] -> ``(x - mean) / std`` -> drop boxes left
    under 1 px. Resizing is the detector's job (``min_size``/``max_size``), as in torchvision.
    """
    steps: list[v2.Transform] = [v2.RandomHorizontalFlip()] if flip else []
    steps.append(UnitFloat())
    if tuple(mean) != (0.0, 0.0, 0.0) or tuple(std) != (1.0, 1.0, 1.0):  # else a no-op copy
        steps.append(v2.Normalize(mean=list(mean), std=list(std)))
    steps.append(v2.SanitizeBoundingBoxes(min_size=1.0, labels_getter=_target_labels))
    return v2.Compose(steps)


def finish_detection_sample(sample: Sample) -> Sample:
    """Plain tensors out of the pipeline: float32 image and boxes, int64 labels."""
    out = dict(sample)
    out["image"] = sample["image"].as_subclass(Tensor)
    if "target" in sample:
        target = sample["target"]
        out["target"] = {"boxes": target["boxes"].as_subclass(Tensor).float().reshape(-1, 4),
                         "labels": target["labels"].as_subclass(Tensor).to(torch.int64)}
    return out


def collate_detection(samples: list[Sample]) -> dict[str, list[Any]]:
    """Lists, not stacks: images of different sizes and different numbers of boxes."""
    return {key: [s[key] for s in samples] for key in samples[0]}
