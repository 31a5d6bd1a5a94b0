"""Every registered model honours the contract of design.md §2 (timm-style, one test for all)."""

from __future__ import annotations

import math

import pytest
import torch

from drnet import create_model, list_models
from drnet.models import Backbone, SegmentationModel, get_entry

BACKBONES = list_models(family="resnet") + list_models(family="drn")
SEGMENTERS = list_models(family="segmentation")
# Keep the expensive forward/backward on small inputs: odd sizes test non-divisible shapes.
SIZE = (2, 3, 45, 37)


def _expected_size(size: int, reduction: int) -> int:
    # Every stride-2 layer here maps n -> ceil(n / 2) (3x3/7x7 convs with "same" padding).
    for _ in range(int(math.log2(reduction))):
        size = math.ceil(size / 2)
    return size


def test_registry_is_complete() -> None:
    expected = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "drn_a_50",
                "drn_c_26", "drn_c_42", "drn_c_58", "drn_d_22", "drn_d_24", "drn_d_38",
                "drn_d_40", "drn_d_54", "drn_d_56", "drn_d_105", "drn_d_107", "drn_d_tiny"}
    assert set(BACKBONES) == expected
    heads = {f"drnseg_{n.removeprefix('drn_')}" for n in expected}
    heads |= {f"{head}_{n}" for head in ("deeplabv3", "fcn") for n in expected}
    assert heads == set(SEGMENTERS)


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_forward_backward_and_features(name: str) -> None:
    model = create_model(name, num_classes=7)
    assert isinstance(model, Backbone)
    x = torch.randn(*SIZE)
    out = model(x)
    assert out.shape == (2, 7)
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not no_grad, f"parameters without gradient: {no_grad}"

    features = create_model(name, features_only=True).eval()
    model.eval()
    with torch.no_grad():
        maps = features(x)
        last = model.forward_features(x)
    assert len(maps) == len(model.feature_info)
    for info, fmap in zip(features.feature_info, maps, strict=True):
        assert fmap.shape == (2, info.num_chs, _expected_size(45, info.reduction),
                              _expected_size(37, info.reduction)), info
    assert features.feature_info[-1].reduction == model.output_stride == \
        get_entry(name).default_output_stride
    assert last.shape[1] == model.num_features == features.feature_info[-1].num_chs
    # The classifier is global pooling + fc on forward_features, at any input size.
    torch.testing.assert_close(model.forward_head(last), model(x))
    assert model(torch.randn(1, 3, 96, 64)).shape == (1, 7)


@pytest.mark.parametrize("name", ["resnet18", "drn_c_26", "drn_d_22", "drn_a_50"])
def test_headless_and_pre_logits(name: str) -> None:
    model = create_model(name, num_classes=0).eval()
    x = torch.randn(1, 3, 40, 40)
    assert model(x).shape == (1, model.num_features)
    assert not [k for k in model.state_dict() if k.startswith("fc.")]
    model.reset_classifier(3)
    assert model(x).shape == (1, 3)
    torch.testing.assert_close(model.forward_head(model.forward_features(x), pre_logits=True),
                               model.forward_features(x).mean((2, 3)))


@pytest.mark.parametrize("name", SEGMENTERS)
def test_segmentation_output_matches_input_size(name: str) -> None:
    model = create_model(name, num_classes=5, aux_head=True)
    assert isinstance(model, SegmentationModel)
    x = torch.randn(2, 3, 41, 35)
    out, aux = model.forward_with_aux(x)
    assert out.shape == aux.shape == (2, 5, 41, 35)
    (out.square().mean() + aux.square().mean()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_with_aux(x)[0])


@pytest.mark.parametrize("upsample", ["bilinear", "transposed"])
def test_segmentation_odd_sizes(upsample: str) -> None:
    model = create_model("drnseg_d_22", num_classes=3, upsample=upsample).eval()
    for size in [(33, 47), (64, 64), (17, 9)]:
        assert model(torch.randn(1, 3, *size)).shape == (1, 3, *size)


def test_features_only_out_indices() -> None:
    model = create_model("resnet50", features_only=True, out_indices=(2, -1), output_stride=16)
    maps = model(torch.randn(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == [512, 2048]
    assert [f.reduction for f in model.feature_info] == [8, 16]
    assert [f.dilation for f in model.feature_info] == [1, 2]
    shallow = create_model("resnet50", features_only=True, out_indices=(1,))
    assert not any(k.startswith(("layer2", "layer3", "layer4")) for k in shallow.state_dict())
    with pytest.raises(ValueError, match="out_indices"):
        create_model("resnet50", features_only=True, out_indices=(5,))
    with pytest.raises(ValueError, match="features_only"):
        create_model("resnet50", out_indices=(1,))


def test_unknown_names_and_arguments_explain_what_is_valid() -> None:
    with pytest.raises(ValueError, match="closest: resnet50"):
        create_model("resnet05")
    with pytest.raises(TypeError, match=r"valid: .*output_stride"):
        create_model("resnet50", outputstride=8)
    with pytest.raises(ValueError, match=r"output_stride must be one of \(8, 16, 32\) for "
                                         r"resnet50, got 12"):
        create_model("resnet50", output_stride=12)
    with pytest.raises(ValueError, match=r"output_stride must be one of \(8, 16, 32\) for "
                                         r"drn_d_22, got 4"):
        create_model("drn_d_22", output_stride=4)
    with pytest.raises(ValueError, match="dilations must be 8 ints"):
        create_model("drn_d_22", dilations=(1, 2, 4))
    with pytest.raises(ValueError, match="num_classes must be an int >= 0"):
        create_model("resnet18", num_classes=-1)
    with pytest.raises(ValueError, match="in_chans"):
        create_model("resnet18", in_chans=0)


def test_in_chans() -> None:
    model = create_model("drn_d_22", in_chans=1, num_classes=2)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"expects a batch of images \(N, 1, H, W\).*"
                                         r"got a tensor of shape \(2, 3, 32, 32\)"):
        model(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("norm", ["gn", "frozenbn", "syncbn"])
def test_norm_layer_option(norm: str) -> None:
    model = create_model("resnet18", norm_layer=norm, num_classes=2).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 2)
