"""Full-image segmentation inference: whole image, sliding window, multi-scale + flip.

Every mode returns class probabilities (softmax) at the input's size, so modes compose: a
multi-scale run averages the probabilities of each scale (and its mirror image) after resizing
them back, and a sliding-window run averages overlapping windows pixel by pixel. Windows run
``window_batch`` at a time, stacked along the batch: on a GPU one forward of many windows is
the main speed-up; on a CPU it was 3-11 % *slower* (PyTorch, OpenVINO; README, Speed), so the
default (``None``) is 1 window per pass on a CPU and 4 elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class InferenceConfig:
    """How to turn a segmentation model into full-image predictions."""

    mode: Literal["whole", "slide"] = "whole"
    crop_size: tuple[int, int] = (512, 512)  # sliding window size (H, W)
    stride: tuple[int, int] = (341, 341)  # window step; < crop_size means overlap
    scales: Sequence[float] = field(default=(1.0,))
    flip: bool = False
    window_batch: int | None = None  # windows per forward pass; None: 1 on a CPU, else 4

    def __post_init__(self) -> None:
        if self.mode not in ("whole", "slide"):
            raise DrnetValueError(f"inference mode must be 'whole' or 'slide', got {self.mode!r}")
        if min(self.crop_size) < 1 or min(self.stride) < 1:
            raise DrnetValueError(f"crop_size and stride must be positive, got {self.crop_size}, "
                                  f"{self.stride}")
        if any(s > c for s, c in zip(self.stride, self.crop_size, strict=True)):
            raise DrnetValueError(f"stride {self.stride} larger than crop_size {self.crop_size} "
                                  "would leave pixels unpredicted")
        if not self.scales or any(s <= 0 for s in self.scales):
            raise DrnetValueError(f"scales must be positive, got {self.scales}")
        if self.window_batch is not None and self.window_batch < 1:
            raise DrnetValueError(f"window_batch must be >= 1, got {self.window_batch}")


def predict_whole(model: nn.Module, image: Tensor) -> Tensor:
    """Probabilities (N, C, H, W) from one forward pass on the whole image."""
    return model(image).softmax(dim=1)


def _starts(length: int, crop: int, stride: int) -> list[int]:
    """Window offsets covering [0, length): regular steps, the last one flush with the end."""
    if length <= crop:
        return [0]
    starts = list(range(0, length - crop, stride))
    return [*starts, length - crop]


def predict_sliding(model: nn.Module, image: Tensor, crop_size: tuple[int, int],
                    stride: tuple[int, int], window_batch: int | None = None) -> Tensor:
    """Probabilities from overlapping ``crop_size`` windows, averaged where they overlap;
    ``window_batch`` windows per forward pass (``None``: 1 on a CPU, where batching windows
    measured slower, 4 on other devices).

    An image smaller than the window is padded (with zeros, i.e. the mean colour after
    normalisation) and the prediction cropped back.
    """
    if window_batch is None:
        window_batch = 1 if image.device.type == "cpu" else 4
    if window_batch < 1:
        raise DrnetValueError(f"window_batch must be >= 1, got {window_batch}")
    height, width = image.shape[-2:]
    crop_h, crop_w = crop_size
    pad_h, pad_w = max(crop_h - height, 0), max(crop_w - width, 0)
    padded = F.pad(image, (0, pad_w, 0, pad_h))
    ph, pw = padded.shape[-2:]
    windows = [(top, left) for top in _starts(ph, crop_h, stride[0])
               for left in _starts(pw, crop_w, stride[1])]
    total: Tensor | None = None
    count = torch.zeros(1, 1, ph, pw, device=image.device, dtype=image.dtype)
    n = image.shape[0]
    for first in range(0, len(windows), window_batch):
        chunk = windows[first:first + window_batch]
        batch = torch.cat([padded[..., t:t + crop_h, left:left + crop_w] for t, left in chunk])
        probs = predict_whole(model, batch)
        if total is None:
            total = image.new_zeros(n, probs.shape[1], ph, pw)
        for i, (top, left) in enumerate(chunk):
            total[..., top:top + crop_h, left:left + crop_w] += probs[i * n:(i + 1) * n]
            count[..., top:top + crop_h, left:left + crop_w] += 1
    assert total is not None
    return (total / count)[..., :height, :width]


def segment(model: nn.Module, image: Tensor, config: InferenceConfig | None = None) -> Tensor:
    """Class probabilities (N, C, H, W) for a normalised image batch, as ``config`` says."""
    config = config or InferenceConfig()
    size = image.shape[-2:]
    total: Tensor | None = None
    runs = 0
    for scale in config.scales:
        scaled = image if scale == 1 else F.interpolate(
            image, scale_factor=scale, mode="bilinear", align_corners=False)
        for flipped in (False, True) if config.flip else (False,):
            x = scaled.flip(-1) if flipped else scaled
            if config.mode == "slide":
                probs = predict_sliding(model, x, config.crop_size, config.stride,
                                        config.window_batch)
            else:
                probs = predict_whole(model, x)
            if flipped:
                probs = probs.flip(-1)
            if probs.shape[-2:] != size:
                probs = F.interpolate(probs, size=size, mode="bilinear", align_corners=False)
            total = probs if total is None else total + probs
            runs += 1
    assert total is not None
    return total / runs
