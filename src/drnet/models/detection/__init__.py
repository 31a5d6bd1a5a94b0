"""Detection models: torchvision's detectors on every drnet backbone (family ``"detection"``).

Registered for every backbone ``b`` and detector ``d`` in (``fasterrcnn``, ``retinanet``,
``fcos``):

* ``d_b_dc5`` for ResNets: the single last map at output stride 16 (layer4 dilated, detectron2's
  "DC5"); ``output_stride=32`` gives the undilated C5 baseline, 8 a denser map;
* ``d_b`` for DRNs (``fasterrcnn_drn_d_38``): the single last map at the DRN's own stride 8;
* ``d_b_fpn``: a feature pyramid over the stage maps (ResNets at output stride 32).

Only the names are registered here; the detector code (and torchvision's detection modules it
builds on) is imported when a detector is built or one of its names below is used, so
``import drnet.models`` does not pay for detection.
"""

from __future__ import annotations

import importlib
import inspect
from functools import partial
from typing import TYPE_CHECKING, Any

from torch import nn

from drnet.models import drn, resnet  # noqa: F401  (the backbones register first)
from drnet.models.registry import ModelEntry, get_entry, list_models, register_model

if TYPE_CHECKING:
    from drnet.models.detection.adapters import (
        FPNBackbone,
        SingleMapBackbone,
        fpn_out_indices,
    )
    from drnet.models.detection.detectors import anchor_sizes_for, build_detector

__all__ = ["FPNBackbone", "SingleMapBackbone", "anchor_sizes_for", "build_detector",
           "detection_name", "fpn_out_indices"]
_LAZY = {"FPNBackbone": "adapters", "SingleMapBackbone": "adapters", "fpn_out_indices": "adapters",
         "anchor_sizes_for": "detectors", "build_detector": "detectors"}


def __getattr__(name: str) -> object:
    """The detector code's public names, imported on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _LazyBuilder:
    """:func:`~drnet.models.detection.detectors.build_detector`, imported when a detector is
    built or its arguments are checked (``create_model`` reads the builder's signature)."""

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._function())

    def __call__(self, *args: Any, **kwargs: Any) -> nn.Module:
        return self._function()(*args, **kwargs)

    @staticmethod
    def _function() -> Any:
        from drnet.models.detection.detectors import build_detector

        return build_detector

_DETECTORS = ("fasterrcnn", "retinanet", "fcos")  # Faster R-CNN, RetinaNet, FCOS


def detection_name(detector: str, backbone: str, neck: str) -> str:
    """``fasterrcnn_resnet50_dc5``, ``fasterrcnn_drn_d_38``, ``retinanet_resnet18_fpn``."""
    if neck == "fpn":
        return f"{detector}_{backbone}_fpn"
    return f"{detector}_{backbone}" if backbone.startswith("drn") else f"{detector}_{backbone}_dc5"


for _detector in _DETECTORS:
    for _backbone in list_models(family="resnet") + list_models(family="drn"):
        _stride = get_entry(_backbone).default_output_stride
        for _neck, _os in (("single", min(_stride, 16)), ("fpn", _stride)):  # DC5 map, FPN
            register_model(ModelEntry(
                detection_name(_detector, _backbone, _neck),
                partial(_LazyBuilder(), _detector, _neck, _backbone, output_stride=_os),
                family="detection", default_output_stride=_os))
