"""The DRN-C and DRN-D families (Yu, Koltun, Funkhouser, CVPR 2017), in the official key layout.

Eight stages at output stride 8. Stages 5 and 6 replace stride with dilation 2 and 4 (every
block, the first too); stages 7 and 8 "degrid" at dilation 2 then 1 without residual
connections, so the checkerboard left by dilated convs is smoothed out. DRN-C builds stages 1-2
and 7-8 from BasicBlocks; DRN-D builds them from plain conv-BN-ReLU layers and uses a
``layer0`` stem. Unlike the official code, global pooling is adaptive (any input size),
``num_classes=0`` gives a headless backbone, and ``residual=False`` is honoured in Bottlenecks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.layers import (
    BasicBlock,
    Bottleneck,
    NormLayer,
    conv3x3,
    get_norm_layer,
    make_downsample,
)
from drnet.models.base import (
    Backbone,
    FeatureInfo,
    check_in_chans,
    check_num_classes,
    init_weights,
)
from drnet.models.output_stride import VALID_OUTPUT_STRIDES
from drnet.models.registry import ModelEntry, register_model

CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
STRIDES = (1, 2, 2, 2, 1, 1, 1, 1)
DILATIONS = (1, 1, 1, 1, 2, 4, 2, 1)
OUTPUT_STRIDE = 8


@dataclass(frozen=True)
class DRNSpec:
    """One row of the DRN table: architecture, residual block and blocks per stage."""

    name: str
    arch: Literal["C", "D"]
    block: type[BasicBlock] | type[Bottleneck]
    layers: tuple[int, int, int, int, int, int, int, int]
    channels: tuple[int, ...] = CHANNELS


class DRN(Backbone):
    """Dilated residual network, arch ``"C"`` or ``"D"``."""

    aux_stage = "layer5"  # DRN stages 3-6 correspond to ResNet layers 1-4

    def __init__(self, arch: Literal["C", "D"], block: type[BasicBlock] | type[Bottleneck],
                 layers: tuple[int, ...], *, channels: tuple[int, ...] = CHANNELS,
                 strides: tuple[int, ...] = STRIDES, dilations: tuple[int, ...] = DILATIONS,
                 num_classes: int = 1000, in_chans: int = 3,
                 norm_layer: NormLayer | str | None = None,
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if arch not in ("C", "D"):
            raise DrnetValueError(f"arch must be 'C' or 'D', got {arch!r}")
        norm = get_norm_layer(norm_layer)
        self.arch = arch
        self.num_classes = check_num_classes(num_classes)
        self.first_conv = "conv1" if arch == "C" else "layer0.0"
        stem = nn.Conv2d(check_in_chans(in_chans), channels[0], 7, padding=3, bias=False)
        if arch == "C":
            self.conv1, self.bn1, self.relu = stem, norm(channels[0]), nn.ReLU(inplace=True)
        else:
            self.layer0 = nn.Sequential(stem, norm(channels[0]), nn.ReLU(inplace=True))

        info, inplanes, reduction = [], channels[0], 1
        for i in range(8):
            plain = arch == "D" and i in (0, 1, 6, 7)
            stage_block = BasicBlock if i in (0, 1, 6, 7) else block
            width, stride, dilation = channels[i], strides[i], dilations[i]
            if plain:
                stage = _conv_layers(inplanes, width, layers[i], stride, dilation, norm)
                outplanes = width
            else:
                stage, outplanes = _residual_stage(stage_block, inplanes, width, layers[i],
                                                   stride, dilation, residual=i < 6, norm=norm)
            self.add_module(f"layer{i + 1}", stage)
            inplanes, reduction = outplanes, reduction * stride
            info.append(FeatureInfo(outplanes, reduction, dilation, f"layer{i + 1}"))
        self.num_features = inplanes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = self._classifier(num_classes)
        self._finish(info)
        init_weights(self, zero_init_residual)

    def _classifier(self, num_classes: int) -> nn.Module:
        # Official DRN classifies with a 1x1 conv (key shapes (C, 512, 1, 1)).
        return nn.Conv2d(self.num_features, num_classes, 1) if num_classes else nn.Identity()

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.avgpool(x)
        return torch.flatten(x if pre_logits else self.fc(x), 1)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.fc = self._classifier(num_classes)


def _conv_layers(inplanes: int, channels: int, convs: int, stride: int, dilation: int,
                 norm: NormLayer) -> nn.Sequential:
    """DRN-D's plain stages: (3x3 conv, norm, ReLU) x convs; keys ``layerN.{3k,3k+1}``."""
    modules: list[nn.Module] = []
    for i in range(convs):
        modules += [conv3x3(inplanes if i == 0 else channels, channels,
                            stride if i == 0 else 1, dilation),
                    norm(channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*modules)


def _residual_stage(block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int,
                    blocks: int, stride: int, dilation: int, *, residual: bool,
                    norm: NormLayer) -> tuple[nn.Sequential, int]:
    """A stage of residual blocks, every 3x3 at ``dilation`` (DRN's "new_level=False").

    Without residuals no projection shortcut is built: the official code builds one in DRN-C-58's
    stage 7, computes it and throws the result away (1.05 M dead parameters).
    """
    outplanes = planes * block.expansion
    downsample = None
    if residual and (stride != 1 or inplanes != outplanes):
        downsample = make_downsample(inplanes, outplanes, stride, norm)
    layers = [
        block(inplanes if j == 0 else outplanes, planes, stride if j == 0 else 1,
              downsample if j == 0 else None, dilation=dilation, residual=residual,
              norm_layer=norm)
        for j in range(blocks)
    ]
    return nn.Sequential(*layers), outplanes


def drn_schedule(output_stride: int = OUTPUT_STRIDE, dilations: Sequence[int] | None = None,
                 model_name: str = "drn") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-stage (strides, dilations) of a DRN.

    Output stride 8 is the published network. At 16 or 32, stage 5 (and 6) stride again and
    every later dilation shrinks by the same factor (floored at 1), so the network samples as
    densely as before relative to its resolution. ``dilations`` (8 values) overrides them.
    """
    if output_stride not in VALID_OUTPUT_STRIDES:
        raise DrnetValueError(f"output_stride must be one of {VALID_OUTPUT_STRIDES} for "
                              f"{model_name}, got {output_stride}")
    factor = output_stride // OUTPUT_STRIDE
    strides = (*STRIDES[:4], *(2 if i < factor.bit_length() - 1 else 1 for i in range(4)))
    rates = tuple(max(1, d // factor) for d in DILATIONS)
    if dilations is not None:
        rates = tuple(dilations)
        if len(rates) != 8 or any(not isinstance(d, int) or d < 1 for d in rates):
            raise DrnetValueError("dilations must be 8 ints >= 1 (one per stage) for "
                                  f"{model_name}, got {rates}")
    return strides, rates


def build_drn(spec: DRNSpec, *, num_classes: int = 1000, in_chans: int = 3,
              output_stride: int = OUTPUT_STRIDE, dilations: Sequence[int] | None = None,
              norm_layer: NormLayer | str | None = None,
              zero_init_residual: bool = False) -> DRN:
    """Build ``spec``: the published network at output stride 8, or see :func:`drn_schedule`."""
    strides, rates = drn_schedule(output_stride, dilations, spec.name)
    model = DRN(spec.arch, spec.block, spec.layers, channels=spec.channels, strides=strides,
                dilations=rates, num_classes=num_classes, in_chans=in_chans,
                norm_layer=norm_layer, zero_init_residual=zero_init_residual)
    if spec.arch == "C" and spec.block is Bottleneck:
        # The official checkpoint's unused stage-7 projection (see _residual_stage).
        model.unused_checkpoint_prefixes = ("layer7.0.downsample",)
    return model


DRN_SPECS = (
    DRNSpec("drn_c_26", "C", BasicBlock, (1, 1, 2, 2, 2, 2, 1, 1)),
    DRNSpec("drn_c_42", "C", BasicBlock, (1, 1, 3, 4, 6, 3, 1, 1)),
    DRNSpec("drn_c_58", "C", Bottleneck, (1, 1, 3, 4, 6, 3, 1, 1)),
    DRNSpec("drn_d_22", "D", BasicBlock, (1, 1, 2, 2, 2, 2, 1, 1)),
    DRNSpec("drn_d_24", "D", BasicBlock, (1, 1, 2, 2, 2, 2, 2, 2)),
    DRNSpec("drn_d_38", "D", BasicBlock, (1, 1, 3, 4, 6, 3, 1, 1)),
    DRNSpec("drn_d_40", "D", BasicBlock, (1, 1, 3, 4, 6, 3, 2, 2)),
    DRNSpec("drn_d_54", "D", Bottleneck, (1, 1, 3, 4, 6, 3, 1, 1)),
    DRNSpec("drn_d_56", "D", Bottleneck, (1, 1, 3, 4, 6, 3, 2, 2)),
    DRNSpec("drn_d_105", "D", Bottleneck, (1, 1, 3, 4, 23, 3, 1, 1)),
    DRNSpec("drn_d_107", "D", Bottleneck, (1, 1, 3, 4, 23, 3, 2, 2)),
    # Not in the paper: one block per stage, widths up to 128 (~0.9 M parameters) -- the
    # scale of `drnet demo` and of `drnet fit` on the built-in synthetic set.
    DRNSpec("drn_d_tiny", "D", BasicBlock, (1, 1, 1, 1, 1, 1, 1, 1),
            (16, 16, 32, 64, 128, 128, 128, 128)),
)

for _spec in DRN_SPECS:
    register_model(ModelEntry(_spec.name, partial(build_drn, _spec), family="drn",
                              default_output_stride=OUTPUT_STRIDE))
