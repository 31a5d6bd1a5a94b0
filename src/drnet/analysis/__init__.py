"""Receptive-field analysis for any PyTorch CNN: analytic fields traced from the real forward
pass, their check by backpropagation, the effective receptive field, gridding and dilation
planning. Needs only torch and torchvision (matplotlib for the PNG figures)."""

from drnet.analysis.axis import Axis
from drnet.analysis.erf import EffectiveRF, effective_receptive_field
from drnet.analysis.gradient import (
    AxisCheck,
    GradientField,
    all_paths_active,
    gradient_field,
    verify_receptive_field,
)
from drnet.analysis.gridding import Gridding, GriddingRow, gridding
from drnet.analysis.planning import (
    RateCheck,
    check_rates,
    path_counts,
    plan_rates,
    sampled_offsets,
)
from drnet.analysis.receptive_field import (
    LayerRF,
    ReceptiveField,
    StageRF,
    receptive_field,
)
from drnet.analysis.tracer import UnsupportedLayerError

__all__ = [
    "Axis",
    "AxisCheck",
    "EffectiveRF",
    "GradientField",
    "Gridding",
    "GriddingRow",
    "LayerRF",
    "RateCheck",
    "ReceptiveField",
    "StageRF",
    "UnsupportedLayerError",
    "all_paths_active",
    "check_rates",
    "effective_receptive_field",
    "gradient_field",
    "gridding",
    "path_counts",
    "plan_rates",
    "receptive_field",
    "sampled_offsets",
    "verify_receptive_field",
]
