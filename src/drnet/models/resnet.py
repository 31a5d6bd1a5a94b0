"""ResNet-18...152 at any output stride, with torchvision's exact state-dict layout.

Also DRN-A-50 (Yu et al., CVPR 2017): a ResNet-50 whose last two stages trade stride for
dilation 2 and 4, with the first block of each left undilated as in the official code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.layers import BasicBlock, Bottleneck, NormLayer, get_norm_layer, make_downsample
from drnet.models.base import (
    Backbone,
    FeatureInfo,
    check_in_chans,
    check_num_classes,
    init_weights,
)
from drnet.models.output_stride import StagePlan, plan_stages
from drnet.models.registry import ModelEntry, register_model

STAGE_STRIDES = (1, 2, 2, 2)
STAGE_PLANES = (64, 128, 256, 512)
STEM_STRIDE = 4  # 7x7 stride-2 conv, then 3x3 stride-2 max-pool


@dataclass(frozen=True)
class ResNetSpec:
    """One row of the ResNet table."""

    name: str
    block: type[BasicBlock] | type[Bottleneck]
    layers: tuple[int, int, int, int]
    default_output_stride: int = 32
    fixed_plan: tuple[StagePlan, ...] | None = None  # variants defined at one output stride
    family: str = "resnet"


class ResNet(Backbone):
    """torchvision-compatible ResNet whose stages are built from :class:`StagePlan` s."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 plans: Sequence[StagePlan], *, num_classes: int = 1000, in_chans: int = 3,
                 norm_layer: NormLayer | str | None = None,
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.num_classes = check_num_classes(num_classes)
        self.conv1 = nn.Conv2d(check_in_chans(in_chans), 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        info = [FeatureInfo(64, 2, 1, "relu")]
        inplanes, reduction = 64, STEM_STRIDE
        for i, (planes, blocks, plan) in enumerate(zip(STAGE_PLANES, layers, plans, strict=True)):
            stage, inplanes = _make_stage(block, inplanes, planes, blocks, plan, norm)
            self.add_module(f"layer{i + 1}", stage)
            reduction *= plan.stride
            info.append(FeatureInfo(inplanes, reduction, plan.dilation, f"layer{i + 1}"))
        self.num_features = inplanes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes) if num_classes else nn.Identity()
        self._finish(info)
        init_weights(self, zero_init_residual)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


def _make_stage(block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int,
                blocks: int, plan: StagePlan, norm: NormLayer) -> tuple[nn.Sequential, int]:
    outplanes = planes * block.expansion
    downsample = None
    if plan.stride != 1 or inplanes != outplanes:
        downsample = make_downsample(inplanes, outplanes, plan.stride, norm)
    layers = []
    for j in range(blocks):
        first_dilation, dilation = plan.block_dilations(j)
        layers.append(block(inplanes if j == 0 else outplanes, planes,
                            plan.stride if j == 0 else 1, downsample if j == 0 else None,
                            dilation=dilation, first_dilation=first_dilation, norm_layer=norm))
    return nn.Sequential(*layers), outplanes


def build_resnet(spec: ResNetSpec, *, num_classes: int = 1000, in_chans: int = 3,
                 output_stride: int | None = None, dilations: Sequence[int] | None = None,
                 multi_grid: Sequence[int] | None = None, norm_layer: NormLayer | str | None = None,
                 zero_init_residual: bool = False) -> ResNet:
    """Build ``spec`` at ``output_stride`` (8, 16 or 32; default the spec's own)."""
    output_stride = spec.default_output_stride if output_stride is None else output_stride
    if spec.fixed_plan is not None:
        if output_stride != spec.default_output_stride or dilations or multi_grid:
            raise DrnetValueError(f"{spec.name} is defined at output_stride "
                                  f"{spec.default_output_stride} with fixed dilations; got "
                                  f"output_stride={output_stride}, dilations={dilations}, "
                                  f"multi_grid={multi_grid}; build a resnet to choose them.")
        plans = spec.fixed_plan
    else:
        plans = plan_stages(STAGE_STRIDES, stem_stride=STEM_STRIDE, output_stride=output_stride,
                            dilations=dilations, multi_grid=multi_grid,
                            last_stage_blocks=spec.layers[-1], model_name=spec.name)
    return ResNet(spec.block, spec.layers, plans, num_classes=num_classes, in_chans=in_chans,
                  norm_layer=norm_layer, zero_init_residual=zero_init_residual)


# DRN-A-50: layer3/layer4 at stride 1, dilation 2/4; first block of every stage undilated.
_DRN_A_PLAN = (StagePlan(1, 1, 1), StagePlan(2, 1, 1), StagePlan(1, 2, 1), StagePlan(1, 4, 1))

RESNET_SPECS = (
    ResNetSpec("resnet18", BasicBlock, (2, 2, 2, 2)),
    ResNetSpec("resnet34", BasicBlock, (3, 4, 6, 3)),
    ResNetSpec("resnet50", Bottleneck, (3, 4, 6, 3)),
    ResNetSpec("resnet101", Bottleneck, (3, 4, 23, 3)),
    ResNetSpec("resnet152", Bottleneck, (3, 8, 36, 3)),
    ResNetSpec("drn_a_50", Bottleneck, (3, 4, 6, 3), default_output_stride=8,
               fixed_plan=_DRN_A_PLAN, family="drn"),
)

for _spec in RESNET_SPECS:
    register_model(ModelEntry(_spec.name, partial(build_resnet, _spec), family=_spec.family,
                              default_output_stride=_spec.default_output_stride))
