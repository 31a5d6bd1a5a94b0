"""À trous exactness (design.md §3) and agreement with torchvision's ResNets."""

from __future__ import annotations

import pytest
import torch
import torchvision

from drnet import create_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _randomise_bn(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics, so an error anywhere in the trunk shows in the output."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_output_stride_is_exact(name: str, output_stride: int) -> None:
    """Same weights: the OS-k map sampled every 32/k pixels equals the OS-32 map (float64)."""
    reference = create_model(name).double().eval()
    _randomise_bn(reference)
    dense = create_model(name, output_stride=output_stride).double().eval()
    dense.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 75, 66, dtype=torch.float64)  # odd, non-divisible on purpose
    with torch.no_grad():
        coarse = reference.forward_features(x)
        fine = dense.forward_features(x)
    step = 32 // output_stride
    sampled = fine[..., ::step, ::step]
    assert sampled.shape == coarse.shape
    error = (sampled - coarse).abs().max() / coarse.abs().max()
    assert error < 1e-10, f"relative error {error:.2e}"


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_torchvision_resnet50_weights_load_strictly(output_stride: int) -> None:
    state = torchvision.models.resnet50().state_dict()
    model = create_model("resnet50", output_stride=output_stride)
    model.load_state_dict(state, strict=True)
    assert list(model.state_dict()) == list(state)


@pytest.mark.parametrize(("name", "replace"), [("resnet50", [False, False, False]),
                                               ("resnet50", [False, False, True]),
                                               ("resnet50", [False, True, True]),
                                               ("resnet101", [False, True, True]),
                                               ("resnet18", [False, False, False])])
def test_matches_torchvision_outputs(name: str, replace: list[bool]) -> None:
    kwargs = {} if name == "resnet18" else {"replace_stride_with_dilation": replace}
    tv = getattr(torchvision.models, name)(**kwargs).eval()
    _randomise_bn(tv)
    model = create_model(name, output_stride=32 // 2 ** sum(replace)).eval()
    model.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, 3, 67, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv(x), rtol=1e-5, atol=1e-5)


def test_basic_block_dilation_where_torchvision_refuses() -> None:
    with pytest.raises(NotImplementedError):
        torchvision.models.resnet18(replace_stride_with_dilation=[False, True, True])
    tv = torchvision.models.resnet18().eval()
    model = create_model("resnet18", output_stride=8).eval()
    model.load_state_dict(tv.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        tv_map = torch.nn.Sequential(*list(tv.children())[:-2])(x)
        torch.testing.assert_close(model.forward_features(x)[..., ::4, ::4], tv_map,
                                   rtol=1e-4, atol=1e-4)


def _dilations(model: torch.nn.Module, stage: str) -> list[tuple[int, int]]:
    """(dilation, stride) of every 3x3 conv of a stage, in order."""
    return [(m.dilation[0], m.stride[0]) for n, m in model.named_modules()
            if n.startswith(stage + ".") and isinstance(m, torch.nn.Conv2d)
            and m.kernel_size == (3, 3)]


def test_dilation_placement_by_hand() -> None:
    # ResNet-18 at OS8: layer3 first conv keeps dilation 1 (it used to stride), later convs 2;
    # layer4 first conv 2, later 4.
    model = create_model("resnet18", output_stride=8)
    assert _dilations(model, "layer3") == [(1, 1), (2, 1), (2, 1), (2, 1)]
    assert _dilations(model, "layer4") == [(2, 1), (4, 1), (4, 1), (4, 1)]
    model = create_model("resnet50", output_stride=16)
    assert _dilations(model, "layer3") == [(1, 2), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]
    assert _dilations(model, "layer4") == [(1, 1), (2, 1), (2, 1)]


def test_multi_grid_rates_follow_deeplabv3() -> None:
    # DeepLabv3: OS16 with multi-grid (1, 2, 4) runs the last stage at 2, 4, 8.
    model = create_model("resnet101", output_stride=16, multi_grid=(1, 2, 4))
    assert _dilations(model, "layer4") == [(2, 1), (4, 1), (8, 1)]
    model = create_model("resnet50", output_stride=8, multi_grid=(1, 2, 1))
    assert _dilations(model, "layer4") == [(4, 1), (8, 1), (4, 1)]
    with pytest.raises(ValueError, match="multi_grid must be 2 ints"):
        create_model("resnet18", multi_grid=(1, 2, 4))


def test_per_stage_dilation_override() -> None:
    model = create_model("resnet50", output_stride=16, dilations=(1, 1, 1, 4))
    assert _dilations(model, "layer4") == [(1, 1), (4, 1), (4, 1)]
    assert model.feature_info[-1].dilation == 4
    with pytest.raises(ValueError, match="dilations must be 4 ints"):
        create_model("resnet50", dilations=(1, 2))


def test_drn_a_50_keeps_first_blocks_undilated() -> None:
    model = create_model("drn_a_50")
    assert _dilations(model, "layer3") == [(1, 1)] + [(2, 1)] * 5
    assert _dilations(model, "layer4") == [(1, 1), (4, 1), (4, 1)]
    model.load_state_dict(torchvision.models.resnet50().state_dict(), strict=True)
    with pytest.raises(ValueError, match="drn_a_50 is defined at output_stride 8"):
        create_model("drn_a_50", output_stride=16)
