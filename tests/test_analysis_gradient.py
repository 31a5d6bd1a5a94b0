"""The analytic field equals the field measured by backpropagation (an independent method).

Each axis is measured on a thin input (one row or column, or as few as the network accepts):
with zero padding the other axis cannot change the extent, and the cost stays small even for
DRN-D-105. Two neighbouring outputs are probed, so size, offset *and* jump are compared.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from drnet import create_model
from drnet.analysis import all_paths_active, gradient_field, receptive_field, verify_receptive_field

DRNS = ["drn_a_50", "drn_c_26", "drn_c_42", "drn_c_58", "drn_d_22", "drn_d_24", "drn_d_38",
        "drn_d_40", "drn_d_54", "drn_d_56", "drn_d_105", "drn_d_107"]


def assert_verified(model: nn.Module, **kwargs: object) -> None:
    # float32 with all_paths_active's weights keeps ~40-layer paths far from underflow; an
    # underflow could only shrink the measured extent, so it cannot hide an analytic error.
    checks = verify_receptive_field(model, dtype=torch.float32, **kwargs)
    assert [c.axis for c in checks] == ["rows", "cols"]
    for check in checks:
        (first, _), (_, last) = check.measured
        assert first >= 0, "the fields must fit in the input"
        assert last < max(check.input_size), "the fields must fit in the input"
        assert check.analytic == check.measured, check


def shapes_only(name: str, **kwargs: object) -> nn.Module:
    """The model on the meta device: the trace needs shapes only and all_paths_active sets
    every weight itself, so no time goes into random initialisation."""
    with torch.device("meta"):
        return create_model(name, num_classes=0, **kwargs)


@pytest.mark.parametrize("name", DRNS)
def test_every_drn_matches_backpropagation(name: str) -> None:
    assert_verified(shapes_only(name))


@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_resnet50_matches_backpropagation_at_every_output_stride(output_stride: int) -> None:
    assert_verified(shapes_only("resnet50", output_stride=output_stride))


def test_an_intermediate_dilated_stage_matches_too() -> None:
    assert_verified(shapes_only("drn_c_26"), at="layer6")


def test_a_torchvision_model_matches_backpropagation() -> None:
    # Depthwise convs, ReLU6 (made identity) and inverted residuals, without drnet code.
    assert_verified(torchvision.models.mobilenet_v2())


def test_gradient_field_of_small_chains() -> None:
    # 3x3 stride 2 then 3x3: field 7, jump 2. On 15 pixels the output has 8 positions; the
    # centre one (3) is centred on input 6 and reads [3, 9].
    model = nn.Sequential(nn.Conv2d(1, 1, 3, 2, 1), nn.ReLU(), nn.Conv2d(1, 1, 3, 1, 1))
    field = gradient_field(model, 15)
    assert field.position == (3, 3)
    assert field.row_extent == field.col_extent == (3, 9)
    # Three 3x3 convs at dilation 2 read only even offsets of the centre: holes at odd ones.
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=2, dilation=2) for _ in range(3)])
    field = gradient_field(model, 15)
    assert field.rows == tuple(range(7 - 6, 7 + 7, 2))
    analytic = receptive_field(model, 15).stages[-1].rows
    assert tuple(7 + o for o in analytic.offsets()) == field.rows


def test_all_paths_active_removes_what_cuts_gradients() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU6(), nn.MaxPool2d(3, 2),
                          nn.Conv2d(4, 4, 1, bias=True))
    active = all_paths_active(model)
    assert [type(m).__name__ for m in active] == ["Conv2d", "Identity", "Identity", "AvgPool2d",
                                                  "Conv2d"]
    # 1 / (in_channels * sqrt(kernel area)): 1 / (3 * 3) for the 3x3, 1 / 4 for the 1x1.
    assert torch.all(active[0].weight == 1 / 9)
    assert torch.all(active[4].weight == 1 / 4)
    assert torch.all(active[4].bias == 0)
    assert active[0].weight.dtype == torch.float64
    assert isinstance(model[1], nn.BatchNorm2d)  # the original is untouched


def test_verification_reports_a_module_that_does_not_run() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Conv2d(3, 3, 3), nn.Conv2d(3, 3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    model = Net()
    with pytest.raises(ValueError, match="did not run"):
        gradient_field(model, 8, at="unused")
