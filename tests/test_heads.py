"""Segmentation heads: ASPP rates follow the output stride, heads map features to logits."""

from __future__ import annotations

import pytest
import torch

from drnet import create_model
from drnet.models.heads import ASPP, aspp_rates


def _dilations(module: torch.nn.Module) -> list[int]:
    return [m.dilation[0] for m in module.modules()
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]


@pytest.mark.parametrize(("output_stride", "rates"), [(16, [6, 12, 18]), (8, [12, 24, 36])])
def test_aspp_rates_follow_output_stride(output_stride: int, rates: list[int]) -> None:
    model = create_model("deeplabv3_resnet50", num_classes=3, output_stride=output_stride)
    assert _dilations(model.head.aspp) == rates
    assert model.backbone.output_stride == output_stride


def test_aspp_rates_can_be_overridden_and_are_checked() -> None:
    model = create_model("deeplabv3_resnet18", num_classes=3, aspp_rates=(1, 2, 3, 4))
    assert _dilations(model.head.aspp) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="deeplabv3 models only"):
        create_model("fcn_resnet18", num_classes=3, aspp_rates=(1, 2))
    with pytest.raises(ValueError, match="no default ASPP rates"):
        aspp_rates(4)
    with pytest.raises(ValueError, match="positive ints"):
        ASPP(8, (0, 2))


def test_aspp_image_pooling_branch_sees_the_whole_image() -> None:
    aspp = ASPP(4, (1,), out_chs=2, dropout=0.0).eval()
    for p in aspp.parameters():  # positive weights: no ReLU can hide a change
        p.data.abs_()
    x = torch.zeros(1, 4, 9, 9)
    base = aspp(x)
    x[..., 0, 0] = 5.0  # far outside the 1x1/3x3 branches' reach of the centre pixel
    assert not torch.allclose(aspp(x)[..., 8, 8], base[..., 8, 8])


def test_multi_grid_reaches_the_segmentation_backbone() -> None:
    model = create_model("deeplabv3_resnet101", num_classes=21, output_stride=16,
                         multi_grid=(1, 2, 4))
    assert _dilations(model.backbone.layer4) == [2, 4, 8]


def test_aux_head_sits_on_the_documented_stage() -> None:
    resnet = create_model("fcn_resnet50", num_classes=3, aux_head=True)
    assert resnet.aux_head.conv.in_channels == 1024  # layer3
    drn = create_model("drnseg_d_54", num_classes=3, aux_head=True)
    assert drn.aux_head.conv.in_channels == 1024  # layer5 (DRN stages 3-6 ~ ResNet 1-4)
    assert create_model("drnseg_d_22", num_classes=3).forward_with_aux(
        torch.randn(1, 3, 32, 32))[1] is None
