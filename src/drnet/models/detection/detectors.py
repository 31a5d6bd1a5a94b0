"""torchvision's Faster R-CNN, RetinaNet and FCOS on a drnet backbone, anchors sized by stride.

Conventions are torchvision's: the model takes a list of float images in [0, 1] (it normalises
with ``image_mean``/``image_std`` and resizes to ``min_size``/``max_size`` itself), label 0 is
the background, so ``num_classes`` counts it (COCO: 80 classes + 1), and boxes are ``xyxy`` in
input pixels. In training mode the forward takes targets and returns the loss dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from drnet.errors import DrnetValueError
from drnet.layers import NormLayer
from drnet.models.detection.adapters import FPNBackbone, SingleMapBackbone, fpn_out_indices
from drnet.models.factory import create_model
from drnet.models.features import FeatureListNet
from drnet.models.layout import CheckpointLayout
from drnet.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD

DetectorType = Literal["fasterrcnn", "retinanet", "fcos"]
Neck = Literal["single", "fpn"]
# detectron2's DC5 anchors: five sizes on the one stride-16 map.
SINGLE_MAP_ANCHOR_SIZES = (32, 64, 128, 256, 512)
# FPN: one anchor size per level, this multiple of the level's stride (Faster R-CNN 32..512 on
# P2..P6 as torchvision/detectron2; RetinaNet 32..512 on P3..P7; FCOS: the stride itself).
FPN_ANCHOR_MULTIPLE = {"fasterrcnn": 8, "retinanet": 4, "fcos": 1}
FPN_MIN_STRIDE = {"fasterrcnn": 4, "retinanet": 8, "fcos": 8}
RETINANET_OCTAVES = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))  # three scales per size (Lin et al. 2017)
# What the classifier layers are called (they depend on num_classes; dropped when loading a
# checkpoint trained with another class count).
CLASSIFIER_NAMES = {"fasterrcnn": ("roi_heads.box_predictor",),
                    "retinanet": ("head.classification_head.cls_logits",),
                    "fcos": ("head.classification_head.cls_logits",)}


def anchor_sizes_for(detector: DetectorType, strides: Sequence[int],
                     anchor_sizes: Sequence[int] | None, single_map: bool,
                     ) -> tuple[tuple[float, ...], ...]:
    """Anchor sizes per level that follow the levels' strides (see the module constants).

    A single map takes the whole ``anchor_sizes`` ladder; an FPN takes one size per level.
    FCOS has one "anchor" per location whose size must be the stride (it sets the centre
    sampling radius and which level learns which object sizes), so it refuses ``anchor_sizes``.
    """
    if detector == "fcos":
        if anchor_sizes is not None:
            raise DrnetValueError("anchor_sizes does not apply to fcos: its one point per "
                                  "location is sized by the level's stride")
        return tuple((float(s),) for s in strides)
    if single_map:
        sizes = tuple(anchor_sizes or SINGLE_MAP_ANCHOR_SIZES)
        levels: tuple[tuple[float, ...], ...] = (tuple(float(s) for s in sizes),)
    else:
        sizes = tuple(anchor_sizes or (FPN_ANCHOR_MULTIPLE[detector] * s for s in strides))
        if len(sizes) != len(strides):
            raise DrnetValueError("anchor_sizes for an FPN needs one size per level (strides "
                                  f"{tuple(strides)}), got {tuple(sizes)}")
        levels = tuple((float(s),) for s in sizes)
    if any(s <= 0 for level in levels for s in level):
        raise DrnetValueError(f"anchor_sizes must be > 0, got {tuple(sizes)}")
    if detector == "retinanet":  # truncated as torchvision's, so its checkpoints agree exactly
        levels = tuple(tuple(float(int(s * o)) for s in level for o in RETINANET_OCTAVES)
                       for level in levels)
    return levels


def build_detector(detector: DetectorType, neck: Neck, backbone_name: str, *,
                   num_classes: int = 81, output_stride: int | None = None,
                   pretrained_backbone: bool | str | None = None,
                   norm_layer: NormLayer | str | None = None,
                   min_size: int | Sequence[int] = 800, max_size: int = 1333,
                   image_mean: Sequence[float] = IMAGENET_MEAN,
                   image_std: Sequence[float] = IMAGENET_STD,
                   anchor_sizes: Sequence[int] | None = None,
                   aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                   out_channels: int | None = None, representation_size: int | None = None,
                   score_thresh: float | None = None, detections_per_img: int = 100,
                   detector_kwargs: Mapping[str, Any] | None = None,
                   backbone_kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """``detector`` on ``backbone_name``: ``neck="single"`` uses the last map at
    ``output_stride`` (ResNets: 16 by default, i.e. DC5; DRNs: 8), ``"fpn"`` a pyramid over the
    stage maps (ResNets default to 32 there).

    ``norm_layer`` defaults to frozen BatchNorm with a pretrained backbone (detection batches
    are small, as torchvision and detectron2) and to BatchNorm when training from scratch.
    ``out_channels``: the FPN width (256), or a 1x1 projection of the single map (RetinaNet
    and FCOS: 256; Faster R-CNN: none, as detectron2's DC5). ``representation_size`` is Faster
    R-CNN's box-head width (1024). ``detector_kwargs`` go to torchvision's class unchanged
    (e.g. ``box_batch_size_per_image``, ``rpn_post_nms_top_n_train``).
    """
    if detector not in CLASSIFIER_NAMES:
        raise DrnetValueError(f"detector must be one of {sorted(CLASSIFIER_NAMES)}, got "
                              f"{detector!r}")
    if neck not in ("single", "fpn"):
        raise DrnetValueError(f"neck must be 'single' or 'fpn', got {neck!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise DrnetValueError("num_classes counts the background (label 0) and must be an int >= "
                              f"2, got {num_classes!r}")
    if representation_size is not None and detector != "fasterrcnn":
        raise DrnetValueError(f"representation_size is Faster R-CNN's box-head width; {detector} "
                              "has none")
    if norm_layer is None and pretrained_backbone:
        norm_layer = "frozenbn"
    backbone = create_model(backbone_name, num_classes=0, output_stride=output_stride,
                            norm_layer=norm_layer, pretrained=pretrained_backbone,
                            **dict(backbone_kwargs or {}))
    if neck == "single":
        body = FeatureListNet(backbone, (-1,))
        if out_channels is None and detector != "fasterrcnn":
            out_channels = 256
        neck_module: SingleMapBackbone | FPNBackbone = SingleMapBackbone(body, out_channels)
    else:
        body = FeatureListNet(backbone, fpn_out_indices(backbone.feature_info,
                                                        FPN_MIN_STRIDE[detector]))
        neck_module = FPNBackbone(body, out_channels or 256,
                                  "pool" if detector == "fasterrcnn" else "p6p7")
    sizes = anchor_sizes_for(detector, neck_module.strides, anchor_sizes, neck == "single")
    ratios = (1.0,) if detector == "fcos" else tuple(float(r) for r in aspect_ratios)
    anchors = AnchorGenerator(sizes, (ratios,) * len(sizes))
    common: dict[str, Any] = {"min_size": min_size, "max_size": max_size,
                              "image_mean": list(image_mean), "image_std": list(image_std)}
    if detector == "fasterrcnn":
        common.update(rpn_anchor_generator=anchors, box_detections_per_img=detections_per_img,
                      box_roi_pool=MultiScaleRoIAlign(neck_module.roi_levels, 7, 2))
        if score_thresh is not None:
            common["box_score_thresh"] = score_thresh
        model: nn.Module = _faster_rcnn(neck_module, num_classes, representation_size or 1024,
                                        {**common, **dict(detector_kwargs or {})})
    else:
        common.update(anchor_generator=anchors, detections_per_img=detections_per_img)
        if score_thresh is not None:
            common["score_thresh"] = score_thresh
        cls = RetinaNet if detector == "retinanet" else FCOS
        model = cls(neck_module, num_classes, **common, **dict(detector_kwargs or {}))
    model.output_stride = body.output_stride
    model.feature_strides = neck_module.strides
    model.checkpoint_layout = CheckpointLayout(
        f"backbone.body.{body.first_conv}", CLASSIFIER_NAMES[detector],
        tuple(f"backbone.body.{p}" for p in body.unused_checkpoint_prefixes))
    return model


def _faster_rcnn(neck: SingleMapBackbone | FPNBackbone, num_classes: int, width: int,
                 kwargs: dict[str, Any]) -> FasterRCNN:
    """Faster R-CNN whose box head is ``width`` wide (torchvision's builder fixes 1024)."""
    head = TwoMLPHead(neck.out_channels * 7 * 7, width)
    return FasterRCNN(neck, None, box_head=head,
                      box_predictor=FastRCNNPredictor(width, num_classes), **kwargs)
