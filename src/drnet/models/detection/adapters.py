"""drnet backbones as torchvision detection backbones: one dilated map (DC5) or an FPN.

torchvision's detectors take any module whose forward returns an ordered dict of feature maps
and whose ``out_channels`` is the (common) channel count. Both adapters keep the drnet trunk as
``body`` (a :class:`~drnet.models.features.FeatureListNet`, so backbone checkpoint keys are
unchanged under ``backbone.body.``) and record each level's stride in ``strides``, which is what
the anchor sizes must follow.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import (
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)

from drnet.errors import DrnetValueError
from drnet.models.base import FeatureInfo
from drnet.models.features import FeatureListNet

ExtraLevels = Literal["pool", "p6p7"]


class SingleMapBackbone(nn.Module):
    """The trunk's last map as level ``"0"`` (detectron2's "DC5" when the last stage is dilated).

    ``out_channels`` adds a 1x1 projection (RetinaNet/FCOS heads run four 3x3 convs at this
    width, too costly at 2048); ``None`` keeps the stage's own channels as detectron2's DC5.
    """

    def __init__(self, body: FeatureListNet, out_channels: int | None = None) -> None:
        super().__init__()
        channels = body.feature_info[-1].num_chs
        self.body = body
        self.proj = (nn.Conv2d(channels, out_channels, 1)
                     if out_channels and out_channels != channels else nn.Identity())
        self.out_channels = out_channels or channels
        self.strides: tuple[int, ...] = (body.output_stride,)
        self.roi_levels = ["0"]  # maps that RoI pooling reads

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        return OrderedDict([("0", self.proj(self.body(x)[-1]))])


def fpn_out_indices(feature_info: Sequence[FeatureInfo], min_stride: int) -> tuple[int, ...]:
    """One stage per distinct stride >= ``min_stride``: the *last* stage at that stride.

    A dilated network has several stages at its output stride (DRN: layers 4-8 at 8); the
    deepest one carries the most context, and FPN levels must differ in stride by 2.
    """
    last: dict[int, int] = {}
    for index, info in enumerate(feature_info):
        if info.reduction >= min_stride:
            last[info.reduction] = index
    if not last:
        raise DrnetValueError(f"no stage has a stride >= {min_stride} for an FPN; strides are "
                              f"{[f.reduction for f in feature_info]}")
    return tuple(last[s] for s in sorted(last))


class FPNBackbone(nn.Module):
    """A feature pyramid over the trunk's stage maps plus extra coarser levels.

    ``extra="pool"`` adds one max-pooled level (Faster R-CNN, Lin et al. 2017); ``"p6p7"`` adds
    two strided convs on the top level (RetinaNet and FCOS).
    """

    def __init__(self, body: FeatureListNet, out_channels: int = 256,
                 extra: ExtraLevels = "pool") -> None:
        super().__init__()
        if extra not in ("pool", "p6p7"):
            raise DrnetValueError(f"extra must be 'pool' or 'p6p7', got {extra!r}")
        strides = [f.reduction for f in body.feature_info]
        if any(b != 2 * a for a, b in pairwise(strides)):
            raise DrnetValueError(f"FPN levels must double in stride, got {strides}")
        self.body = body
        self.fpn = FeaturePyramidNetwork(
            [f.num_chs for f in body.feature_info], out_channels,
            extra_blocks=LastLevelMaxPool() if extra == "pool"
            else LastLevelP6P7(out_channels, out_channels))
        self.out_channels = out_channels
        extras = 1 if extra == "pool" else 2
        self.strides = (*strides, *(strides[-1] * 2 ** (i + 1) for i in range(extras)))
        self.roi_levels = [str(i) for i in range(len(strides))]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        maps = self.body(x)
        return self.fpn(OrderedDict((str(i), m) for i, m in enumerate(maps)))
