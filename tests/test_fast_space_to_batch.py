"""Space-to-batch execution is exact (float64: ~1e-15) for divisible and odd sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from drnet import create_model
from drnet.fast import optimize_for_inference
from drnet.fast.compare import relative_error
from drnet.fast.space_to_batch import (
    SpaceToBatchStage,
    SubgridConv2d,
    batch_to_space,
    find_runs,
    space_to_batch,
)
from tests.fixtures.models import random_norm_stats


@pytest.mark.parametrize(("name", "kwargs", "runs"), [
    # ResNet-18 at OS8: layer3's first block is undilated, layer4's mixes dilations 2 and 4.
    ("resnet18", {"output_stride": 8}, {"layer3": ((1, 2, 2),), "layer4": ((1, 2, 4),)}),
    # DRN-D: residual stages 5-6 and the plain conv-BN-ReLU stage 7 (a conv as a direct child).
    ("drnseg_d_tiny", {}, {"backbone.layer5": ((0, 1, 2),), "backbone.layer6": ((0, 1, 4),),
                           "backbone.layer7": ((0, 1, 2),)}),
    ("drn_c_26", {}, {"layer5": ((0, 2, 2),), "layer6": ((0, 2, 4),), "layer7": ((0, 1, 2),)}),
])
@pytest.mark.parametrize("size", [(32, 48), (37, 29)])
def test_exact_at_any_size(name: str, kwargs: dict, runs: dict, size: tuple[int, int]) -> None:
    model = random_norm_stats(create_model(name, num_classes=3, **kwargs)).eval().double()
    fast = optimize_for_inference(model, fold_bn=False, channels_last=False, space_to_batch=True)
    found = {n: m.runs for n, m in fast.model.named_modules() if isinstance(m, SpaceToBatchStage)}
    assert found == runs
    assert not any(m.dilation != (1, 1) for m in fast.modules() if isinstance(m, SubgridConv2d))
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        assert relative_error(fast(x), model(x)) < 1e-12
    assert fast.model.state_dict().keys() == model.state_dict().keys()


def test_with_folding_and_channels_last_in_fp32() -> None:
    model = random_norm_stats(create_model("resnet18", output_stride=8, num_classes=3)).eval()
    fast = optimize_for_inference(model, space_to_batch=True)
    x = torch.randn(1, 3, 45, 51)
    with torch.no_grad():
        assert relative_error(fast(x), model(x)) < 1e-4


def test_shuffle_round_trips_and_groups_subgrids() -> None:
    x = torch.arange(2 * 3 * 6 * 4, dtype=torch.float32).reshape(2, 3, 6, 4)
    y = space_to_batch(x, 2)
    assert y.shape == (8, 3, 3, 2)
    # Sub-grid (p, q) = (1, 0) is batch block p * d + q = 2, i.e. rows 4 and 5 (N = 2).
    assert torch.equal(y[4:6], x[:, :, 1::2, 0::2])
    assert torch.equal(batch_to_space(y, 2), x)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert space_to_batch(cl, 2).is_contiguous(memory_format=torch.channels_last)


def test_ineligible_layers_are_left_native() -> None:
    stage = nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=2, dilation=2), nn.GroupNorm(2, 4),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=4, dilation=4), nn.Conv2d(4, 4, 3, stride=2))
    # GroupNorm mixes pixels and a strided conv mixes sub-grids: both end a run.
    assert find_runs(stage) == [(0, 1, 2), (2, 3, 2), (4, 5, 4)]


def test_training_mode_is_refused() -> None:
    model = create_model("drn_d_tiny", num_classes=2).eval()
    fast = optimize_for_inference(model, space_to_batch=True)
    fast.model.train()
    with pytest.raises(RuntimeError, match="for inference"):
        fast.model(torch.randn(1, 3, 16, 16))
