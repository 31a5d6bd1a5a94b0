"""Every drnet model declares its checkpoint layout (models/layout.py), by hand here; any other
torch module has the empty one, and the loader reads nothing else about a model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from drnet import create_model
from drnet.models.layout import CheckpointLayout, checkpoint_layout

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_backbones_declare_first_conv_and_classifier() -> None:
    assert checkpoint_layout(create_model("resnet18")) == CheckpointLayout("conv1", ("fc",))
    assert checkpoint_layout(create_model("drn_d_22")) == CheckpointLayout("layer0.0", ("fc",))
    # DRN-C-58's official file holds a stage-7 projection the network never uses
    assert checkpoint_layout(create_model("drn_c_58")) == CheckpointLayout(
        "conv1", ("fc",), ("layer7.0.downsample",))


def test_features_only_drops_what_it_left_out() -> None:
    # feature_info 0 is the stem, 1 is layer1: layer2 on are left out
    layout = checkpoint_layout(create_model("resnet18", features_only=True, out_indices=(1,)))
    assert layout.first_conv == "conv1"
    assert layout.classifier == ()
    assert set(layout.unused) == {"layer2", "layer3", "layer4", "avgpool", "fc"}


def test_segmentation_layout_prefixes_the_backbone_and_derives_the_frozen_upsampling() -> None:
    layout = checkpoint_layout(create_model("drnseg_d_22", num_classes=5, upsample="transposed"))
    assert layout.first_conv == "backbone.layer0.0"
    assert layout.classifier == ("head.classifier", "aux_head.classifier", "up")
    assert layout.unused == ("backbone.fc", "aux_head")
    assert layout.derived == ("up.weight",)
    assert checkpoint_layout(create_model("drnseg_d_22", num_classes=5)).derived == ()


def test_detectors_declare_theirs_and_plain_modules_have_none() -> None:
    layout = checkpoint_layout(create_model("fasterrcnn_resnet18_dc5", num_classes=3))
    # the DC5 body keeps the trunk through layer4: a backbone file's pooling and fc are unused
    assert layout == CheckpointLayout("backbone.body.conv1", ("roi_heads.box_predictor",),
                                      ("backbone.body.avgpool", "backbone.body.fc"))
    assert checkpoint_layout(nn.Conv2d(3, 3, 1)) == CheckpointLayout()


def test_the_loader_adapts_the_declared_first_conv() -> None:
    # 3-channel weights into a 1-channel model: the declared first conv is summed over channels
    state = create_model("resnet18").state_dict()
    model = create_model("resnet18", in_chans=1)
    from drnet.models.weights import load_state

    report = load_state(model, state, "test")
    assert report.adapted == ["conv1.weight"]
    torch.testing.assert_close(model.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
