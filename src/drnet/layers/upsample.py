"""Upsampling of logits back to input resolution: bilinear, or DRN's frozen transposed conv."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drnet.errors import DrnetValueError


def bilinear_kernel(factor: int) -> Tensor:
    """The 2*factor x 2*factor bilinear kernel of the official DRNSeg ``fill_up_weights``."""
    size = 2 * factor
    f = (size + 1) // 2
    centre = (2 * f - 1 - f % 2) / (2.0 * f)
    ramp = 1 - (torch.arange(size, dtype=torch.float64) / f - centre).abs()
    return torch.outer(ramp, ramp).float()


class BilinearUpsample(nn.Module):
    """``F.interpolate`` to an exact size (align_corners=False): any input size, no weights."""

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class TransposedBilinearUpsample(nn.Module):
    """Official DRNSeg upsampling: a frozen depthwise ``ConvTranspose2d(C, C, 2f, stride=f,
    padding=f/2)`` holding bilinear weights (key ``weight``, shape (C, 1, 2f, 2f)).

    It samples at the same positions as :class:`BilinearUpsample`, but zero-pads at the border
    instead of replicating, so official checkpoints give official outputs only with this layer.
    The weight is a buffer: it is saved and loaded but never trained.
    """

    def __init__(self, channels: int, factor: int = 8) -> None:
        super().__init__()
        if factor < 2 or factor % 2:
            raise DrnetValueError(f"factor must be an even int >= 2, got {factor}")
        self.factor = factor
        kernel = bilinear_kernel(factor)
        self.register_buffer("weight", kernel.expand(channels, 1, *kernel.shape).clone())

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        y = F.conv_transpose2d(x, self.weight.to(x.dtype), stride=self.factor,
                               padding=self.factor // 2, groups=x.shape[1])
        return y[..., : size[0], : size[1]]
