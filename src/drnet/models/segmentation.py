"""Segmentation models: a dilated backbone, a head, and upsampling to input resolution.

Every backbone is registered with every head: ``drnseg_<short>`` (the official DRNSeg recipe:
``drnseg_d_22``, ``drnseg_c_26``, ``drnseg_a_50``, ``drnseg_resnet50``), ``deeplabv3_<name>``
(ASPP with image pooling: ``deeplabv3_resnet101``, ``deeplabv3_drn_d_54``) and ``fcn_<name>``.
All default to output stride 8; ``aux_head=True`` adds an FCN head on the backbone's
``aux_stage`` for an auxiliary loss during training.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.layers import BilinearUpsample, NormLayer, TransposedBilinearUpsample
from drnet.models.base import Backbone, check_input, check_num_classes, run_trunk
from drnet.models.heads import DeepLabV3Head, DRNHead, FCNHead, aspp_rates
from drnet.models.layout import CheckpointLayout
from drnet.models.preprocessing import Preprocessing
from drnet.models.registry import ModelEntry, list_models, register_model

Upsample = Literal["bilinear", "transposed"]
HeadType = Literal["drnseg", "deeplabv3", "fcn"]
_OFFICIAL_BASE = re.compile(r"^base\.(\d+)\.(.+)$")


class SegmentationModel(nn.Module):
    """``backbone.forward_features -> head -> up``; the output always has the input's size.

    ``forward`` returns the main logits only (one tensor, whatever the options); training code
    that wants the auxiliary logits calls :meth:`forward_with_aux`.
    """

    classifier_names = ("head.classifier", "aux_head.classifier", "up")  # depend on num_classes

    def __init__(self, backbone: Backbone, head: nn.Module, *, num_classes: int,
                 upsample: Upsample = "bilinear", aux_head: nn.Module | None = None) -> None:
        super().__init__()
        if upsample not in ("bilinear", "transposed"):
            raise DrnetValueError(f"upsample must be 'bilinear' or 'transposed', got {upsample!r}")
        self.num_classes = num_classes
        self.output_stride = backbone.output_stride
        self.backbone = backbone
        self.head = head
        self.aux_head = aux_head
        self.up = (TransposedBilinearUpsample(num_classes, backbone.output_stride)
                   if upsample == "transposed" else BilinearUpsample())
        self.first_conv = f"backbone.{backbone.first_conv}"
        # Dropped when the model lacks them, as forward never uses them: the backbone's
        # classifier and an auxiliary head. (An official ``up.weight`` is never dropped
        # silently: bilinear upsampling computes another function at the borders.)
        self.unused_checkpoint_prefixes = (
            "backbone.fc", "aux_head",
            *(f"backbone.{p}" for p in backbone.unused_checkpoint_prefixes))
        # The frozen bilinear kernel is rebuilt identically: a checkpoint may leave it out.
        self.derived_state_keys = ("up.weight",) if upsample == "transposed" else ()
        # Normalisation of the backbone's weights, when they were loaded (pretrained_backbone).
        backbone_prep = getattr(backbone, "preprocessing", None)
        self.preprocessing = None if backbone_prep is None else Preprocessing(
            backbone_prep.mean, backbone_prep.std, source=backbone_prep.source)

    @property
    def checkpoint_layout(self) -> CheckpointLayout:
        """What loading needs beyond the keys (see :mod:`drnet.models.layout`)."""
        return CheckpointLayout(self.first_conv, tuple(self.classifier_names),
                                tuple(self.unused_checkpoint_prefixes),
                                tuple(self.derived_state_keys))

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes, H, W) for an input (N, C, H, W) of any size."""
        return self.up(self.head(self.backbone.forward_features(x)), x.shape[-2:])

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Main and auxiliary logits, both at input size (aux is ``None`` without aux head)."""
        if self.aux_head is None:
            return self(x), None
        check_input(x, self.backbone.in_chans, type(self.backbone).__name__,
                    self.backbone.input_dtype)
        features, (stage,) = run_trunk(self.backbone.trunk_stages(), x,
                                       (self.backbone.aux_stage,))
        size = x.shape[-2:]
        return self.up(self.head(features), size), self.up(self.aux_head(stage), size)

    def checkpoint_hint(self, unexpected: list[str]) -> str | None:
        """What to do about a checkpoint key the model has no place for."""
        if "up.weight" in unexpected and isinstance(self.up, BilinearUpsample):
            return ("up.weight is the official DRNSeg transposed-conv upsampling: build the "
                    "model with upsample='transposed' to compute what the checkpoint computed "
                    "(create_model does when upsample is not given), or load with "
                    "drop=('up',) to upsample bilinearly on purpose")
        return None

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


def build_segmentation(head: HeadType, backbone_name: str, *, num_classes: int = 19,
                       in_chans: int = 3, output_stride: int = 8,
                       upsample: Upsample = "bilinear", aux_head: bool = False,
                       aspp_rates: Sequence[int] | None = None, dropout: float | None = None,
                       norm_layer: NormLayer | str | None = None,
                       pretrained_backbone: bool | str | None = None,
                       **backbone_kwargs: Any) -> SegmentationModel:
    """``head`` on ``backbone_name`` at ``output_stride`` (8 by default: dense prediction wants
    resolution). ``aspp_rates`` defaults to the output stride's rates (design.md §3)."""
    from drnet.models.factory import create_model  # the factory imports this module

    check_num_classes(num_classes)
    if num_classes < 1:
        raise DrnetValueError(f"num_classes must be >= 1 for segmentation, got {num_classes}")
    if aspp_rates is not None and head != "deeplabv3":
        raise DrnetValueError(f"aspp_rates applies to deeplabv3 models only, not {head}")
    backbone = create_model(backbone_name, num_classes=0, in_chans=in_chans,
                            output_stride=output_stride, norm_layer=norm_layer,
                            pretrained=pretrained_backbone, **backbone_kwargs)
    chs = backbone.num_features
    if head == "drnseg":
        head_module: nn.Module = DRNHead(chs, num_classes, dropout or 0.0)
    elif head == "fcn":
        head_module = FCNHead(chs, num_classes, 0.1 if dropout is None else dropout, norm_layer)
    else:
        rates = _default_rates(backbone.output_stride) if aspp_rates is None else aspp_rates
        head_module = DeepLabV3Head(chs, num_classes, rates, norm_layer)
    aux = None
    if aux_head:
        stage = next(f for f in backbone.feature_info if f.module == backbone.aux_stage)
        aux = FCNHead(stage.num_chs, num_classes, 0.1, norm_layer)
    return SegmentationModel(backbone, head_module, num_classes=num_classes, upsample=upsample,
                             aux_head=aux)


_default_rates = aspp_rates  # the argument of build_segmentation shadows the function


def seg_name(head: HeadType, backbone: str) -> str:
    """``drnseg_d_22`` for (drnseg, drn_d_22); ``deeplabv3_resnet101``; ``fcn_drn_d_38``."""
    return f"drnseg_{backbone.removeprefix('drn_')}" if head == "drnseg" else f"{head}_{backbone}"


for _head in ("drnseg", "deeplabv3", "fcn"):  # 1x1 classifier, ASPP, FCN head
    for _backbone in list_models(family="resnet") + list_models(family="drn"):
        register_model(ModelEntry(
            seg_name(_head, _backbone), partial(build_segmentation, _head, _backbone),
            family="segmentation", default_output_stride=8))
