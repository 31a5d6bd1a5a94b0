"""Analytic receptive fields against hand-computed values (design.md §5).

Conventions: ``lo``/``hi`` are the first/last input coordinates read by output 0, so the field
size is ``hi - lo + 1``, the effective padding ``-lo`` and the centre ``(lo + hi) / 2``.
"""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torch import Tensor, nn

from drnet import create_model
from drnet.analysis import StageRF, UnsupportedLayerError, receptive_field


def conv(k: int | tuple[int, int], stride: int = 1, dilation: int = 1,
         padding: int | tuple[int, int] | None = None) -> nn.Conv2d:
    if padding is None:  # "same" padding
        ks = (k, k) if isinstance(k, int) else k
        padding = (dilation * (ks[0] - 1) // 2, dilation * (ks[1] - 1) // 2)
    return nn.Conv2d(2, 2, k, stride=stride, dilation=dilation, padding=padding)


def last(model: nn.Module, size: int | tuple[int, int] = 32, **kwargs: object) -> StageRF:
    report = receptive_field(model, size, in_chans=2, **kwargs)
    return report.stages[-1]


def test_two_3x3_convs_see_5_pixels() -> None:
    stage = last(nn.Sequential(conv(3), conv(3)))
    for axis in (stage.rows, stage.cols):
        assert (axis.size, axis.jump, axis.padding, axis.centre) == (5, 1, 2, 0)
        assert axis.holes() == ()


def test_strided_conv_then_conv_sees_7_pixels_with_jump_2() -> None:
    # r = 3 + (3 - 1) * 2 = 7; S = 2; P = 1 + 1 * 2 = 3; output u centred on input 2u.
    stage = last(nn.Sequential(conv(3, stride=2), conv(3)))
    assert (stage.rows.size, stage.rows.jump, stage.rows.padding) == (7, 2, 3)
    assert stage.cols.interval(4) == (5, 11)
    assert stage.rows.offsets() == tuple(range(-3, 4))  # taps 2 apart, each reading 3 pixels


def test_a_strided_1x1_conv_leaves_every_other_pixel_unread() -> None:
    # A 1x1 conv at stride 2 (ResNet's projection shortcut) reads even pixels only; a 3x3 conv
    # after it reads its neighbours 2 input pixels apart: offsets -2, 0, 2, holes at -1 and 1.
    stage = last(nn.Sequential(conv(1, stride=2, padding=0), conv(3)))
    assert (stage.rows.size, stage.rows.jump) == (5, 2)
    assert stage.rows.offsets() == (-2, 0, 2)
    assert stage.cols.holes() == (-1, 1)


def test_three_dilated_convs_have_holes_at_odd_offsets() -> None:
    # Each 3x3 conv at dilation 2 spans 5 pixels: r = 1 + 3 * 4 = 13, taps at even offsets only.
    stage = last(nn.Sequential(conv(3, dilation=2), conv(3, dilation=2), conv(3, dilation=2)))
    assert stage.rows.size == 13
    assert stage.rows.offsets() == (-6, -4, -2, 0, 2, 4, 6)
    assert stage.rows.holes() == (-5, -3, -1, 1, 3, 5)
    assert stage.cols.holes() == stage.rows.holes()


def test_hybrid_rates_1_2_5_have_no_holes() -> None:
    stage = last(nn.Sequential(conv(3, dilation=1), conv(3, dilation=2), conv(3, dilation=5)))
    assert stage.rows.size == 1 + 2 * (1 + 2 + 5)
    assert stage.rows.holes() == ()
    assert stage.rows.coverage() == 1.0


def test_even_kernels_and_rectangular_kernels_are_exact() -> None:
    # 2x2 stride-2 pool: reads [0, 1] -> centre 0.5; then a 1x5 conv at jump 2 (padding 0, 2).
    report = receptive_field(nn.Sequential(nn.MaxPool2d(2), conv((1, 5))), 16,
                             in_chans=2)
    stage = report.stages[-1]
    assert (stage.rows.lo, stage.rows.hi, stage.rows.centre) == (0, 1, 0.5)
    assert (stage.cols.lo, stage.cols.hi) == (0 - 2 * 2, 1 + 2 * 2)
    assert (stage.rows.size, stage.cols.size) == (2, 10)
    assert report.layers[0].kernel == (2, 2)


class Residual(nn.Module):
    """x + f(x) with f a 3x3 conv then a 1x5 conv: the union of the two paths."""

    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(conv(3), conv((1, 5)))

    def forward(self, x: Tensor) -> Tensor:
        out = self.f(x)
        out += x
        return out


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = conv((5, 1)), conv((1, 7))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.a(x), self.b(x)], 1)


def test_residual_sum_and_concatenation_take_the_union_of_branches() -> None:
    stage = last(nn.Sequential(Residual()))
    assert (stage.rows.size, stage.cols.size) == (3, 7)
    stage = last(nn.Sequential(Concat()))
    assert (stage.rows.size, stage.cols.size) == (5, 7)
    report = receptive_field(nn.Sequential(Concat()), 16, in_chans=2)
    assert [layer.op for layer in report.layers] == ["conv2d", "conv2d", "cat"]


def test_dilated_residual_union_keeps_the_identity_offset() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv(3, dilation=3)

        def forward(self, x: Tensor) -> Tensor:
            return self.conv(x) + x

    stage = last(nn.Sequential(Block(), Block()))
    # {-3, 0, 3} + {-3, 0, 3} with the identity path adding nothing new.
    assert stage.rows.offsets() == (-6, -3, 0, 3, 6)


def test_ceil_mode_pooling_keeps_the_geometry_and_adds_an_output() -> None:
    floor = receptive_field(nn.Sequential(nn.MaxPool2d(3, 2)), 8, in_chans=2).stages[-1]
    ceil = receptive_field(nn.Sequential(nn.MaxPool2d(3, 2, ceil_mode=True)), 8,
                           in_chans=2).stages[-1]
    assert floor.shape[-1] + 1 == ceil.shape[-1] == 4
    assert (ceil.rows.size, ceil.rows.jump, ceil.rows.padding) == (3, 2, 0)
    assert ceil.rows == floor.rows


def test_global_pooling_reads_the_whole_padded_input() -> None:
    # A 3x3 conv (padding 1) on 8 pixels reads [-1, 8]; pooling all 8 outputs reads all of it.
    model = nn.Sequential(conv(3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    report = receptive_field(model, 8, in_chans=2)
    pooled = report.stages[1].rows
    assert pooled.is_global
    assert (pooled.lo, pooled.hi) == (-1, 8)
    ((shape, (rows, _)),) = report.outputs
    assert shape == (3,)
    assert rows.is_global
    assert (rows.lo, rows.hi) == (-1, 8)


def test_uneven_adaptive_pooling_and_interpolation_are_bounds() -> None:
    report = receptive_field(nn.Sequential(conv(3), nn.AdaptiveAvgPool2d(3)), 7, in_chans=2)
    assert not report.stages[-1].rows.exact
    up = receptive_field(nn.Sequential(conv(3, stride=2), nn.Upsample(scale_factor=2)), 16,
                         in_chans=2).stages[-1]
    assert not up.rows.exact
    assert up.rows.jump == 1  # 2 input pixels per conv output, 2 outputs per conv output


@pytest.mark.parametrize(("module", "message"), [
    (nn.PixelShuffle(2), "'1' (PixelShuffle)"),
    (nn.Conv3d(1, 1, 1), "3-d convolution"),
])
def test_unsupported_layers_are_named(module: nn.Module, message: str) -> None:
    model = nn.Sequential(nn.Conv2d(2, 4, 3), module)
    if isinstance(module, nn.Conv3d):
        model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Unflatten(1, (1, 4)), module)
    with pytest.raises(UnsupportedLayerError, match=re.escape(message)):
        receptive_field(model, 16, in_chans=2)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="input_size must be"):
        receptive_field(nn.Conv2d(3, 3, 3), (0, 4))
    with pytest.raises(ValueError, match=r"stages \['nope'\] are not modules"):
        receptive_field(nn.Sequential(nn.Conv2d(3, 3, 3)), 8, stages=["nope"])


def test_a_failing_forward_is_reported_with_the_input_shape() -> None:
    class Picky(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            assert x.shape[-1] == 224, "wrong image size"
            return x

    with pytest.raises(ValueError, match=r"forward pass of Picky on a 1x3x8x8 input failed: "
                                         r"AssertionError: wrong image size"):
        receptive_field(Picky(), 8)


def test_resnet50_matches_the_hand_computation() -> None:
    # torchvision ResNet-50 (stride on the 3x3): conv1 7 (S2); maxpool +2*2 = 11 (S4);
    # layer1 3x3s: +8*3 = 35; layer2: +8 (strided 3x3 at S4) +16*3 = 91 (S8);
    # layer3: +16 +32*5 = 267 (S16); layer4: +32 +64*2 = 427 (S32).
    # P = 3 + 1*2 + 3*4 (layer1) + 4 + 3*8 (layer2) + 8 + 5*16 (layer3) + 16 + 2*32 = 213.
    with torch.device("meta"):  # shapes are all the trace needs
        models = (torchvision.models.resnet50(), create_model("resnet50"))
    for model in models:
        report = receptive_field(model, 224, stages=["layer1", "layer2", "layer3", "layer4"])
        assert [(s.rows.size, s.rows.jump) for s in report.stages] == \
            [(35, 4), (91, 8), (267, 16), (427, 32)]
        assert (report.stage("layer4").rows.padding, report.stage("layer4").rows.centre) == \
            (213, 0)


def test_vgg16_matches_the_hand_computation() -> None:
    # Five blocks of 3x3 convs (2, 2, 3, 3, 3) each followed by a 2x2 stride-2 max-pool:
    # r = 1 + 2*2 + 1 + 4*2 + 2 + 8*3 + 4 + 16*3 + 8 + 32*3 + 16 = 212, S = 32,
    # P = 2*1 + 2*2 + 3*4 + 3*8 + 3*16 = 90 (pools add no padding).
    with torch.device("meta"):
        model = torchvision.models.vgg16()
    report = receptive_field(model, 224, stages=["features"])
    rows = report.stage("features").rows
    assert (rows.size, rows.jump, rows.padding) == (212, 32, 90)


def test_drn_d_22_matches_the_hand_computation() -> None:
    # layer0 7x7: 7; layer1 3x3: 9; layer2 3x3 s2: 11 (S2); layer3 4 convs, first strided:
    # +4 +8*3 = 39 (S4); layer4: +8 +16*3 = 95 (S8); layer5 4 convs dilation 2: +32*4 = 223;
    # layer6 dilation 4: +64*4 = 479; layer7 one conv dilation 2: +32 = 511; layer8: +16 = 527.
    with torch.device("meta"):
        model = create_model("drn_d_22")
    report = receptive_field(model, 64)
    assert [s.rows.size for s in report.stages] == [9, 11, 39, 95, 223, 479, 511, 527]
    assert [s.dilations for s in report.stages][4:] == [(2,), (4,), (2,), (1,)]


def test_the_trace_leaves_the_model_as_it_was() -> None:
    model = create_model("drn_c_26")
    model.train()
    model.layer3.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    receptive_field(model, 32)
    assert model.training
    assert not model.layer3.training
    assert model.layer4.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["densenet121", "mobilenet_v2", "convnext_tiny", "googlenet",
                                  "shufflenet_v2_x0_5", "efficientnet_b0"])
def test_torchvision_models_trace_without_drnet_code(name: str) -> None:
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None)
    report = receptive_field(model, 96)
    ((_, (rows, cols)),) = report.outputs
    assert rows.is_global
    assert cols.is_global
    assert rows.exact
