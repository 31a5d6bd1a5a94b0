"""The contract every drnet backbone honours (design.md §2).

A backbone is a stack of named children: a trunk (stem and stages, run in registration order)
followed by a head (``avgpool`` then ``fc``). Keeping the trunk a flat list of named children is
what lets :class:`~drnet.models.features.FeatureListNet` reuse the same modules, under the same
state-dict names, without any per-architecture code.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from drnet.errors import DrnetTypeError, DrnetValueError
from drnet.layers import BasicBlock, Bottleneck
from drnet.models.layout import CheckpointLayout


@dataclass(frozen=True)
class FeatureInfo:
    """One returnable feature map: its channels, effective stride and dilation."""

    num_chs: int
    reduction: int  # effective stride (input pixels per feature pixel)
    dilation: int  # dilation of the 3x3 convs that produced it
    module: str  # name of the trunk child whose output this is

    def __getitem__(self, key: str) -> int | str:
        """timm's feature_info entries are dicts: ``info["reduction"]`` works too (SMP's
        encoders read it so)."""
        if key not in ("num_chs", "reduction", "dilation", "module"):
            raise KeyError(key)
        return getattr(self, key)


def run_trunk(stages: Iterable[tuple[str, nn.Module]], x: Tensor,
              keep: Collection[str] = ()) -> tuple[Tensor, list[Tensor]]:
    """Run ``stages`` (name, module) in order on ``x``: the last output, and the outputs of the
    stages named in ``keep`` in trunk order. The one loop over a trunk: the backbone's
    ``forward_features`` / ``forward_intermediates``, ``features_only`` networks and auxiliary
    heads all go through it (a plain loop, so tracing and export unroll it)."""
    kept = []
    for name, module in stages:
        x = module(x)
        if name in keep:
            kept.append(x)
    return x, kept


class Backbone(nn.Module):
    """Classification backbone: ``forward = forward_head(forward_features(x))``.

    Subclasses build their children, then call :meth:`_finish`. They must define ``avgpool``
    and ``fc`` last; ``fc`` is ``nn.Identity`` when ``num_classes == 0`` (headless).
    """

    head_names: ClassVar[tuple[str, ...]] = ("avgpool", "fc")
    first_conv: ClassVar[str] = "conv1"  # adapted when a checkpoint has another in_chans
    classifier_names: ClassVar[tuple[str, ...]] = ("fc",)  # depend on num_classes
    aux_stage: ClassVar[str] = "layer3"  # where segmentation models attach an auxiliary head

    feature_info: tuple[FeatureInfo, ...]
    num_features: int  # channels of forward_features' output
    num_classes: int
    output_stride: int
    unused_checkpoint_prefixes: tuple[str, ...] = ()  # dropped silently when loading

    @property
    def checkpoint_layout(self) -> CheckpointLayout:
        """What loading needs beyond the keys (see :mod:`drnet.models.layout`)."""
        return CheckpointLayout(self.first_conv, tuple(self.classifier_names),
                                tuple(self.unused_checkpoint_prefixes))

    def _finish(self, feature_info: list[FeatureInfo]) -> None:
        self.feature_info = tuple(feature_info)
        self.output_stride = feature_info[-1].reduction
        self.trunk_names = tuple(n for n, _ in self.named_children() if n not in self.head_names)
        self.in_chans = self.get_submodule(self.first_conv).in_channels

    def forward_features(self, x: Tensor) -> Tensor:
        """Last stage's feature map (N, num_features, H / output_stride, W / output_stride)."""
        check_input(x, self.in_chans, type(self).__name__, self.input_dtype)
        return run_trunk(self.trunk_stages(), x)[0]

    def trunk_stages(self, last: str | None = None) -> list[tuple[str, nn.Module]]:
        """The trunk's (name, module) pairs in order, through ``last`` (default: all)."""
        names = self.trunk_names if last is None else \
            self.trunk_names[: self.trunk_names.index(last) + 1]
        return [(name, getattr(self, name)) for name in names]

    def forward_intermediates(self, x: Tensor, indices: int | Sequence[int] | None = None, *,
                              stop_early: bool = False, intermediates_only: bool = False
                              ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """timm's ``forward_intermediates``: the maps of the ``feature_info`` entries
        ``indices`` (all by default; an int ``n``: the last ``n``) and the last stage's map.

        ``stop_early`` stops the trunk at the last requested map; ``intermediates_only``
        returns just the list.
        """
        from drnet.models.features import resolve_out_indices

        check_input(x, self.in_chans, type(self).__name__, self.input_dtype)
        if isinstance(indices, int):
            indices = range(len(self.feature_info) - indices, len(self.feature_info))
        chosen = resolve_out_indices(self.feature_info, indices, type(self).__name__)
        keep = [self.feature_info[i].module for i in chosen]
        last = max(keep, key=self.trunk_names.index) if (stop_early or intermediates_only) \
            and keep else None
        final, maps = run_trunk(self.trunk_stages(last), x, keep)
        return maps if intermediates_only else (final, maps)

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype inputs must have: that of the first conv's weights. Found by attribute
        lookups, which torch.export traces on every torch version (``get_submodule`` failed
        in torch 2.7's dynamo)."""
        module: nn.Module = self
        for name in self.first_conv.split("."):
            module = getattr(module, name)
        return module.weight.dtype

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling (any input size) then the classifier."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (``0`` removes it), e.g. before fine-tuning."""
        raise NotImplementedError


def check_input(x: Tensor, in_chans: int, model: str, dtype: torch.dtype | None = None) -> None:
    """A clear error for a batch the network cannot take, instead of a conv's shape or dtype
    error deep inside. Any H, W >= 1 works: every layer pads. ``dtype`` (the weights') must be
    the input's unless autocast chooses. Skipped while tracing (jit, fx) or compiling."""
    if isinstance(x, torch.fx.Proxy) or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return
    if x.ndim != 4 or x.shape[1] != in_chans or x.shape[2] < 1 or x.shape[3] < 1:
        raise DrnetValueError(f"{model} expects a batch of images (N, {in_chans}, H, W) with H, W "
                              f">= 1 ({in_chans} = in_chans), got a tensor of shape "
                              f"{tuple(x.shape)}")
    if dtype is not None and x.dtype != dtype and not torch.is_autocast_enabled(x.device.type):
        raise DrnetTypeError(f"{model} has {dtype} weights but got a {x.dtype} input: cast the "
                             f"input (x.to({dtype})), or the model (model.to({x.dtype}) for a "
                             "floating type), or run under torch.autocast")


def check_num_classes(num_classes: int) -> int:
    if not isinstance(num_classes, int) or num_classes < 0:
        raise DrnetValueError("num_classes must be an int >= 0 (0 = no classifier), got "
                              f"{num_classes!r}")
    return num_classes


def check_in_chans(in_chans: int) -> int:
    if not isinstance(in_chans, int) or in_chans < 1:
        raise DrnetValueError(f"in_chans must be an int >= 1, got {in_chans!r}")
    return in_chans


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """He (fan-out) init for convs and unit norms, as torchvision and the official DRN code;
    optionally start every residual branch at zero (Goyal et al., 2017)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, BasicBlock | Bottleneck):
                m.zero_init_last()
