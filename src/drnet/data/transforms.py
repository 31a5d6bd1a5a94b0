"""Paired image/mask transforms (torchvision.transforms.v2 on ``tv_tensors``).

A sample is a dict ``{"image": tv_tensors.Image, "mask": tv_tensors.Mask, ...}``; v2 applies the
same random geometry to every tv_tensor in it and picks the interpolation by type (bilinear for
images, nearest for masks), so image and mask stay aligned. Padding fills images with 0 and masks
with ``ignore_index``, so padded pixels never count in the loss or the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from drnet.errors import DrnetValueError
from drnet.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, UnitFloat

# What every reader's ``transforms`` argument is: a dict sample in, a dict sample out.
Transform = Callable[[dict[str, Any]], dict[str, Any]]


class RandomScale(v2.Transform):
    """Resize image and mask by one factor drawn uniformly from ``scale_range``.

    torchvision's ``RandomResize`` draws an absolute size; segmentation recipes (DRN, DeepLab)
    scale relative to the input. Masks use ``nearest-exact``, which samples the nearest source
    pixel *centre* (plain ``nearest`` is off by up to half a source pixel).
    """

    def __init__(self, scale_range: Sequence[float]) -> None:
        super().__init__()
        low, high = (float(s) for s in scale_range)
        if not 0 < low <= high:
            raise DrnetValueError("scale_range must be (low, high) with 0 < low <= high, got "
                                  f"{tuple(scale_range)}")
        self.scale_range = (low, high)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        low, high = self.scale_range
        scale = low + (high - low) * float(torch.rand(()))
        return {"size": [max(1, round(height * scale)), max(1, round(width * scale))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.Mask):
            return tv_tensors.wrap(resize_mask_exact(inpt.as_subclass(torch.Tensor),
                                                     params["size"]), like=inpt)
        return self._call_kernel(F.resize, inpt, params["size"], antialias=True)


def resize_mask_exact(mask: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``mask`` (..., H, W) of class ids resized by ``nearest-exact``. Not through torchvision:
    its ``resize`` of a ``Mask`` silently used plain ``nearest`` whatever the interpolation asked
    for, until pytorch/vision#9497 (2026); as floats, ids are exact up to 2**24."""
    shape = mask.shape
    flat = mask.reshape(-1, 1, *shape[-2:]).float()
    out = torch.nn.functional.interpolate(flat, size=list(size), mode="nearest-exact")
    return out.to(mask.dtype).reshape(*shape[:-2], *out.shape[-2:])


def _fill(ignore_index: int) -> dict[type, int]:
    return {tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}


def _as_pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(not isinstance(s, int) or s < 1 for s in pair):
        raise DrnetValueError(f"{name} must be an int or (height, width) of ints >= 1, "
                              f"got {size!r}")
    return pair  # type: ignore[return-value]


def _normalize(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    """uint8 image -> float in [0, 1] -> ``(x - mean) / std``, bit for bit as the official
    ``ToTensor`` + ``Normalize`` (see :class:`UnitFloat`); masks pass through untouched."""
    return [UnitFloat(), v2.Normalize(mean=list(mean), std=list(std))]


def segmentation_train_transforms(
    crop_size: int | Sequence[int],
    scale_range: Sequence[float] | None = (0.5, 2.0),
    rotate: float = 0.0,
    flip: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    ignore_index: int = 255,
) -> v2.Compose:
    """Random scale -> rotation (if ``rotate`` > 0 degrees) -> crop -> flip -> normalise.

    The crop pads images smaller than ``crop_size`` (height, width) with 0 and their masks with
    ``ignore_index``, so every training sample has exactly ``crop_size``.
    """
    crop = _as_pair(crop_size, "crop_size")
    steps: list[v2.Transform] = []
    if scale_range is not None:
        steps.append(RandomScale(scale_range))
    if rotate < 0:
        raise DrnetValueError(f"rotate must be >= 0 degrees, got {rotate}")
    if rotate > 0:
        steps.append(v2.RandomRotation(rotate, interpolation=v2.InterpolationMode.BILINEAR,
                                       fill=_fill(ignore_index)))
    steps.append(v2.RandomCrop(crop, pad_if_needed=True, fill=_fill(ignore_index)))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + _normalize(mean, std))


def segmentation_eval_transforms(mean: Sequence[float] = IMAGENET_MEAN,
                                 std: Sequence[float] = IMAGENET_STD) -> v2.Compose:
    """Normalisation only: validation and test score full images at their own size."""
    return v2.Compose(_normalize(mean, std))


def classification_train_transforms(image_size: int, mean: Sequence[float], std: Sequence[float],
                                    *, padding: int | None = None) -> v2.Compose:
    """ImageNet recipe (random-resized crop + flip), or with ``padding`` the CIFAR recipe
    (pad, random crop at the native size + flip)."""
    crop: v2.Transform = (v2.RandomResizedCrop(image_size, antialias=True) if padding is None
                          else v2.RandomCrop(image_size, padding=padding))
    return v2.Compose([v2.ToImage(), crop, v2.RandomHorizontalFlip(), *_normalize(mean, std)])


def classification_eval_transforms(image_size: int, mean: Sequence[float], std: Sequence[float],
                                   *, resize_size: int | None = None) -> v2.Compose:
    """Resize the shorter side to ``resize_size`` and centre-crop ``image_size`` (ImageNet's
    256 -> 224); without ``resize_size`` the image is used as it is (CIFAR)."""
    steps: list[v2.Transform] = [v2.ToImage()]
    if resize_size is not None:
        steps += [v2.Resize(resize_size, antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose(steps + _normalize(mean, std))


def to_segmentation_sample(image: Image.Image, mask: np.ndarray | None,
                           path: str) -> dict[str, Any]:
    """Wrap a decoded pair as tv_tensors: image (3, H, W) uint8, mask (H, W) int64."""
    sample: dict[str, Any] = {"image": tv_tensors.Image(F.pil_to_tensor(image)), "path": path}
    if mask is not None:
        sample["mask"] = tv_tensors.Mask(torch.from_numpy(mask.astype(np.int64, copy=False)))
    return sample


def finish_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """Plain tensors out of the pipeline (the batch contract names plain tensor types)."""
    out = dict(sample)
    out["image"] = sample["image"].as_subclass(torch.Tensor)
    if "mask" in sample:
        out["mask"] = sample["mask"].as_subclass(torch.Tensor).to(torch.int64)
    return out
