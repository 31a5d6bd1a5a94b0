"""Receptive-field analysis for any PyTorch CNN: analytic fields traced from the real forward
pass, their check by backpropagation, the effective receptive field, gridding and dilation
planning. Needs only torch and torchvision (matplotlib for the PNG figures)."""

from drnet.analysis.axis import Axis
from drnet.analysis.receptive_field import (
    LayerRF,
    ReceptiveField,
    StageRF,
    receptive_field,
)
from drnet.analysis.tracer import UnsupportedLayerError

__all__ = [
    "Axis",
    "LayerRF",
    "ReceptiveField",
    "StageRF",
    "UnsupportedLayerError",
    "receptive_field",
]
