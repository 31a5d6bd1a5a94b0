"""Activation checkpointing: same loss, gradients and BN statistics as without it."""

from __future__ import annotations

import copy

import pytest
import torch

from drnet import create_model
from drnet.fast import enable_checkpointing
from drnet.fast.checkpointing import CheckpointedStage


@pytest.mark.parametrize(("name", "stages", "expected"), [
    ("drnseg_d_tiny", "all", [f"backbone.layer{i}" for i in range(9)]),
    ("drnseg_d_tiny", "dilated", ["backbone.layer5", "backbone.layer6", "backbone.layer7"]),
    ("resnet18", ["layer3", "layer4"], ["layer3", "layer4"]),
])
def test_training_step_is_unchanged(name: str, stages: object, expected: list[str]) -> None:
    kwargs = {"output_stride": 8} if name == "resnet18" else {}
    model = create_model(name, num_classes=3, **kwargs).train()
    checkpointed = copy.deepcopy(model)
    assert enable_checkpointing(checkpointed, stages) == expected
    assert all(isinstance(checkpointed.get_submodule(n), CheckpointedStage) for n in expected)
    assert checkpointed.state_dict().keys() == model.state_dict().keys()
    x = torch.randn(2, 3, 24, 24)
    for m in (model, checkpointed):
        m(x).square().mean().backward()
    for (name_, p), q in zip(model.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name_)
    # The recomputed forward must not update BN's running statistics a second time.
    for (name_, b), c in zip(model.named_buffers(), checkpointed.buffers(), strict=True):
        torch.testing.assert_close(c, b, msg=name_)


def test_eval_and_no_grad_run_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("checkpoint() called without gradients")

    monkeypatch.setattr("drnet.fast.checkpointing.checkpoint", refuse)
    model = create_model("drn_d_tiny", num_classes=3)
    enable_checkpointing(model)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)
    model.eval()
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_unknown_stage_is_named() -> None:
    model = create_model("drnseg_d_tiny", num_classes=3)
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['layer9'\]"):
        enable_checkpointing(model, ["layer9"])
    with pytest.raises(ValueError, match="stages must be 'all', 'dilated'"):
        enable_checkpointing(model, "some")
    with pytest.raises(TypeError, match="drnet backbone or segmentation model"):
        enable_checkpointing(torch.nn.Conv2d(1, 1, 1))
