"""Segmentation models: a dilated backbone, a head, and upsampling to input resolution.

Registered as ``drnseg_<backbone>`` (``drnseg_d_22``, ``drnseg_c_26``, ``drnseg_a_50``,
``drnseg_resnet50``, ...): the official DRNSeg recipe on any drnet backbone.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Literal

from torch import Tensor, nn

from drnet.layers import BilinearUpsample, TransposedBilinearUpsample
from drnet.models.base import Backbone, check_num_classes
from drnet.models.heads import DRNHead
from drnet.models.registry import ModelEntry, list_models, register_model

Upsample = Literal["bilinear", "transposed"]
_OFFICIAL_BASE = re.compile(r"^base\.(\d+)\.(.+)$")


class SegmentationModel(nn.Module):
    """``backbone.forward_features -> head -> up``; the output always has the input's size."""

    first_conv: str
    classifier_names = ("head.classifier", "up")  # their shapes depend on num_classes

    def __init__(self, backbone: Backbone, head: nn.Module, *, num_classes: int,
                 upsample: Upsample = "bilinear") -> None:
        super().__init__()
        if upsample not in ("bilinear", "transposed"):
            raise ValueError(f"upsample must be 'bilinear' or 'transposed', got {upsample!r}")
        self.num_classes = num_classes
        self.output_stride = backbone.output_stride
        self.backbone = backbone
        self.head = head
        self.up = (TransposedBilinearUpsample(num_classes, backbone.output_stride)
                   if upsample == "transposed" else BilinearUpsample())
        self.first_conv = f"backbone.{backbone.first_conv}"
        # Dropped when the model lacks them: the backbone's classifier, and the official
        # transposed-conv weight when upsampling bilinearly (same sampling, see layers/upsample).
        self.unused_checkpoint_prefixes = (
            "backbone.fc", "up", *(f"backbone.{p}" for p in backbone.unused_checkpoint_prefixes))

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes, H, W) for an input (N, C, H, W) of any size."""
        return self.up(self.head(self.backbone.forward_features(x)), x.shape[-2:])

    def adapt_checkpoint(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Accept the official DRNSeg layout and plain backbone checkpoints.

        DRNSeg wraps the backbone's children minus pool and fc as ``base = Sequential(...)``, so
        ``base.N`` is the N-th trunk child; its ``seg`` conv is drnet's ``head.classifier``.
        """
        if any(_OFFICIAL_BASE.match(k) for k in state):
            trunk = self.backbone.trunk_names
            adapted = {}
            for key, value in state.items():
                match = _OFFICIAL_BASE.match(key)
                if match and int(match[1]) < len(trunk):
                    key = f"backbone.{trunk[int(match[1])]}.{match[2]}"
                elif key.startswith("seg."):
                    key = "head.classifier." + key[4:]
                adapted[key] = value
            return adapted
        if not any(k.startswith(("backbone.", "head.")) for k in state):
            return {f"backbone.{k}": v for k, v in state.items()}  # an ImageNet backbone
        return state


def build_drnseg(backbone_name: str, *, num_classes: int = 19, in_chans: int = 3,
                 output_stride: int = 8, upsample: Upsample = "bilinear",
                 dropout: float = 0.0, pretrained_backbone: bool | str | None = None,
                 **backbone_kwargs: object) -> SegmentationModel:
    """DRNSeg on ``backbone_name``: 1x1 conv classifier on the last stage, then upsampling.

    Output stride 8 by default, for ResNets too (dense prediction wants resolution).
    """
    from drnet.models.factory import create_model  # the factory imports this module

    check_num_classes(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1 for segmentation, got {num_classes}")
    backbone = create_model(backbone_name, num_classes=0, in_chans=in_chans,
                            output_stride=output_stride,
                            pretrained=pretrained_backbone, **backbone_kwargs)
    head = DRNHead(backbone.num_features, num_classes, dropout)
    return SegmentationModel(backbone, head, num_classes=num_classes, upsample=upsample)


def seg_name(prefix: str, backbone: str) -> str:
    """``drnseg_d_22`` for ``drn_d_22``; ``drnseg_resnet50`` for ``resnet50``."""
    return f"{prefix}_{backbone.removeprefix('drn_')}"


for _backbone in list_models(family="resnet") + list_models(family="drn"):
    register_model(ModelEntry(
        seg_name("drnseg", _backbone), partial(build_drnseg, _backbone), family="segmentation",
        default_output_stride=8,
        description=f"DRNSeg head on {_backbone}"))
