"""Detection models: torchvision's detectors on every drnet backbone (family ``"detection"``).

Registered for every backbone ``b`` and detector ``d`` in (``fasterrcnn``, ``retinanet``,
``fcos``):

* ``d_b_dc5`` for ResNets: the single last map at output stride 16 (layer4 dilated, detectron2's
  "DC5"); ``output_stride=32`` gives the undilated C5 baseline, 8 a denser map;
* ``d_b`` for DRNs (``fasterrcnn_drn_d_38``): the single last map at the DRN's own stride 8;
* ``d_b_fpn``: a feature pyramid over the stage maps (ResNets at output stride 32).
"""

from functools import partial

from drnet.models import drn, resnet  # noqa: F401  (the backbones register first)
from drnet.models.detection.adapters import FPNBackbone, SingleMapBackbone, fpn_out_indices
from drnet.models.detection.detectors import anchor_sizes_for, build_detector
from drnet.models.registry import ModelEntry, get_entry, list_models, register_model

__all__ = ["FPNBackbone", "SingleMapBackbone", "anchor_sizes_for", "build_detector",
           "detection_name", "fpn_out_indices"]

_DETECTORS = {"fasterrcnn": "Faster R-CNN", "retinanet": "RetinaNet", "fcos": "FCOS"}


def detection_name(detector: str, backbone: str, neck: str) -> str:
    """``fasterrcnn_resnet50_dc5``, ``fasterrcnn_drn_d_38``, ``retinanet_resnet18_fpn``."""
    if neck == "fpn":
        return f"{detector}_{backbone}_fpn"
    return f"{detector}_{backbone}" if backbone.startswith("drn") else f"{detector}_{backbone}_dc5"


for _detector, _title in _DETECTORS.items():
    for _backbone in list_models(family="resnet") + list_models(family="drn"):
        _stride = get_entry(_backbone).default_output_stride
        for _neck, _os, _text in (("single", min(_stride, 16), "one dilated map"),
                                  ("fpn", _stride, "FPN")):
            register_model(ModelEntry(
                detection_name(_detector, _backbone, _neck),
                partial(build_detector, _detector, _neck, _backbone, output_stride=_os),
                family="detection", default_output_stride=_os,
                description=f"{_title} on {_backbone}, {_text} (output stride {_os})"))
