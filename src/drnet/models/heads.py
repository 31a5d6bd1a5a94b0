"""Segmentation heads: map a feature map to per-class logits at feature resolution.

Every head names its last 1x1 conv ``classifier``, the only part whose shape depends on the
number of classes, so checkpoints of another class count load everything else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.layers import NormLayer, conv3x3, get_norm_layer

# DeepLabv3 (Chen et al. 2017, §3.3): rates (6, 12, 18) at output stride 16, doubled at 8.
_ASPP_RATES = {8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}


def aspp_rates(output_stride: int) -> tuple[int, int, int]:
    """The ASPP rates that keep the same field of view at ``output_stride``."""
    if output_stride not in _ASPP_RATES:
        raise DrnetValueError(f"no default ASPP rates for output_stride {output_stride}; expected "
                              f"one of {tuple(_ASPP_RATES)} or explicit aspp_rates")
    return _ASPP_RATES[output_stride]


class DRNHead(nn.Module):
    """The DRNSeg head: one 1x1 conv to classes (official key ``seg`` -> ``head.classifier``).

    The backbone is already dilated, so no context module is needed (Yu et al. 2017, §5).
    """

    def __init__(self, in_chs: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.classifier = nn.Conv2d(in_chs, num_classes, 1)
        # Official init: N(0, sqrt(2 / (k * k * out_channels))), zero bias.
        nn.init.normal_(self.classifier.weight, 0.0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(x))


class FCNHead(nn.Module):
    """3x3 conv to in/4 channels, norm, ReLU, dropout, 1x1 classifier (Long et al. 2015, as
    torchvision's FCNHead); also the auxiliary head on an earlier stage."""

    def __init__(self, in_chs: int, num_classes: int, dropout: float = 0.1,
                 norm_layer: NormLayer | str | None = None) -> None:
        super().__init__()
        mid = max(in_chs // 4, 1)
        self.conv = conv3x3(in_chs, mid)
        self.bn = get_norm_layer(norm_layer)(mid)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.classifier = nn.Conv2d(mid, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.relu(self.bn(self.conv(x)))))


class _ConvNormAct(nn.Sequential):
    def __init__(self, in_chs: int, out_chs: int, kernel: int, dilation: int,
                 norm: NormLayer) -> None:
        padding = dilation * (kernel - 1) // 2
        super().__init__(nn.Conv2d(in_chs, out_chs, kernel, padding=padding, dilation=dilation,
                                   bias=False), norm(out_chs), nn.ReLU(inplace=True))


class _ImagePooling(nn.Module):
    """ASPP's image-level branch: global context, broadcast back over the map."""

    def __init__(self, in_chs: int, out_chs: int, norm: NormLayer) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.project = _ConvNormAct(in_chs, out_chs, 1, 1, norm)

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.pool(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with image pooling (DeepLabv3): a 1x1 branch, one 3x3
    branch per rate, and global pooling, concatenated and projected."""

    def __init__(self, in_chs: int, rates: Sequence[int], out_chs: int = 256,
                 dropout: float = 0.5, norm_layer: NormLayer | str | None = None) -> None:
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.rates = tuple(rates)
        if not self.rates or any(not isinstance(r, int) or r < 1 for r in self.rates):
            raise DrnetValueError(f"aspp_rates must be positive ints, got {rates}")
        branches = [_ConvNormAct(in_chs, out_chs, 1, 1, norm)]
        branches += [_ConvNormAct(in_chs, out_chs, 3, r, norm) for r in self.rates]
        branches.append(_ImagePooling(in_chs, out_chs, norm))
        self.branches = nn.ModuleList(branches)
        self.project = _ConvNormAct(out_chs * len(branches), out_chs, 1, 1, norm)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.project(torch.cat([b(x) for b in self.branches], dim=1)))


class DeepLabV3Head(nn.Module):
    """ASPP, a 3x3 conv, then the classifier (as torchvision's DeepLabHead)."""

    def __init__(self, in_chs: int, num_classes: int, rates: Sequence[int],
                 norm_layer: NormLayer | str | None = None, channels: int = 256) -> None:
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.aspp = ASPP(in_chs, rates, channels, norm_layer=norm)
        self.conv = _ConvNormAct(channels, channels, 3, 1, norm)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.conv(self.aspp(x)))
