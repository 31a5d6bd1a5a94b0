"""BN folding: same function, same class and names, BN gone, for every registered model."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from drnet import create_model, list_models
from drnet.fast import count_batchnorms, fold_batchnorm
from drnet.fast.compare import relative_error
from tests.fixtures.models import random_norm_stats

# One of each structure: ResNet (basic, bottleneck, dilated), DRN-C, DRN-D (plain conv-BN
# stages), every head (DRNSeg, ASPP with image pooling, FCN + auxiliary head), FrozenBatchNorm.
CASES = [
    ("resnet18", {"output_stride": 8}),
    ("drn_c_26", {}),
    ("drn_d_tiny", {}),
    ("drnseg_d_tiny", {}),
    ("deeplabv3_drn_d_tiny", {}),
    ("fcn_resnet18", {"aux_head": True}),
    ("resnet18", {"norm_layer": "frozenbn"}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_fold_matches_eager(name: str, kwargs: dict) -> None:
    model = random_norm_stats(create_model(name, num_classes=5, **kwargs)).eval()
    folded = fold_batchnorm(model)
    assert type(folded) is type(model)
    assert count_batchnorms(model) > 0
    assert count_batchnorms(folded) == 0
    x = torch.randn(2, 3, 35, 29)
    with torch.no_grad():
        assert relative_error(folded(x), model(x)) < 2e-5
        if name.startswith("fcn"):  # methods other than forward keep working
            _main, aux = folded.forward_with_aux(x)
            _ref_main, ref_aux = model.forward_with_aux(x)
            assert relative_error(aux, ref_aux) < 2e-5


# Every backbone; segmentation models are a backbone plus one of three heads, each tested on
# a DRN and a ResNet (all 77 registered names would take ~25 s on the meta device alone).
STRUCTURES = list_models(family="resnet") + list_models(family="drn") + [
    f"{head}_{backbone}" for head in ("drnseg", "deeplabv3", "fcn")
    for backbone in ("drn_d_tiny", "resnet18")]


@pytest.mark.parametrize("name", [n.replace("drnseg_drn_", "drnseg_") for n in STRUCTURES])
def test_every_structure_folds_completely(name: str) -> None:
    with torch.device("meta"):  # structure only: no memory, no compute
        model = create_model(name, num_classes=3)
    folded = fold_batchnorm(model)
    assert count_batchnorms(folded) == 0
    assert [n for n, _ in folded.named_modules()] == [n for n, _ in model.named_modules()]


def test_original_model_is_untouched_and_names_are_kept() -> None:
    model = create_model("drnseg_d_tiny", num_classes=3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert isinstance(folded.backbone.layer1[1], nn.Identity)  # DRN-D plain stage: conv, BN, ReLU
    assert folded.backbone.layer1[0].bias is not None
    assert hasattr(folded, "forward_with_aux")
    assert folded.backbone.feature_info


def test_shared_or_multi_use_convs_are_not_folded() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn(y) + y  # the conv's output is used twice: BN cannot be absorbed

    model = random_norm_stats(Shared()).eval()
    folded = fold_batchnorm(model)
    assert count_batchnorms(folded) == 1
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(folded(x), model(x))


def test_untraceable_parts_are_folded_child_by_child() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this module
                return self.stem(x)
            return self.stem(-x)

    model = random_norm_stats(Branchy()).eval()
    folded = fold_batchnorm(model)
    assert count_batchnorms(folded) == 0
    x = torch.randn(1, 3, 8, 8)
    assert relative_error(folded(x), model(x)) < 1e-5


@pytest.mark.parametrize("norm_type", [nn.BatchNorm2d, FrozenBatchNorm2d])
@pytest.mark.parametrize("conv_bias", [False, True])
def test_folded_weights_by_hand(norm_type: type[nn.Module], conv_bias: bool) -> None:
    """The BN formula y = gamma * (z - mean) / sqrt(var + eps) + beta absorbed into z = w * x + b:
    w' = w * s and b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps). A large eps and
    small variances make a fold that drops eps (or the conv's bias, or beta) visibly wrong."""
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=conv_bias)
    norm = norm_type(3, eps=0.5)
    with torch.no_grad():
        norm.running_mean.copy_(torch.tensor([0.3, -0.2, 0.1]))
        norm.running_var.copy_(torch.tensor([0.01, 0.2, 0.05]))
        norm.weight.copy_(torch.tensor([1.5, -0.7, 0.4]))
        norm.bias.copy_(torch.tensor([0.25, -1.0, 0.5]))
    model = nn.Sequential(conv, norm).eval()
    folded = fold_batchnorm(model)
    assert isinstance(folded[1], nn.Identity)
    scale = torch.tensor([1.5, -0.7, 0.4]) / torch.tensor([0.51, 0.7, 0.55]).sqrt()
    bias = conv.bias.detach() if conv_bias else torch.zeros(3)
    torch.testing.assert_close(folded[0].weight, conv.weight.detach() * scale.view(3, 1, 1, 1))
    torch.testing.assert_close(folded[0].bias, (bias - torch.tensor([0.3, -0.2, 0.1])) * scale
                               + torch.tensor([0.25, -1.0, 0.5]))


def test_not_a_module_is_refused() -> None:
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        fold_batchnorm("resnet18")
