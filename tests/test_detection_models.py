"""Detection models: registry names, anchors that follow the stride, forward/backward, weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import detection
from torchvision.ops import FrozenBatchNorm2d

from drnet import create_model, list_models
from drnet.models.detection import anchor_sizes_for, fpn_out_indices

RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
DRNS = ["drn_a_50", "drn_c_26", "drn_c_42", "drn_c_58", "drn_d_22", "drn_d_24", "drn_d_38",
        "drn_d_40", "drn_d_54", "drn_d_56", "drn_d_105", "drn_d_107", "drn_d_tiny"]


def test_registry_names() -> None:
    expected = set()
    for det in ("fasterrcnn", "retinanet", "fcos"):
        expected |= {f"{det}_{b}_dc5" for b in RESNETS} | {f"{det}_{b}" for b in DRNS}
        expected |= {f"{det}_{b}_fpn" for b in RESNETS + DRNS}
    assert set(list_models(family="detection")) == expected
    assert {"fasterrcnn_resnet50_dc5", "fasterrcnn_drn_d_38"} <= expected  # the names


# name -> level strides (hand-derived: ResNet stages stride 4, 8, 16, 32; DC5 dilates layer4;
# DRNs are at 8 from layer4 on; FPN extras: Faster R-CNN one pooled level, the others P6, P7)
STRIDES = {
    "fasterrcnn_resnet50_dc5": (16,), "fasterrcnn_drn_d_38": (8,), "fcos_resnet18_dc5": (16,),
    "fasterrcnn_resnet50_fpn": (4, 8, 16, 32, 64), "retinanet_resnet50_fpn": (8, 16, 32, 64, 128),
    "fasterrcnn_drn_d_54_fpn": (4, 8, 16), "fcos_drn_c_26_fpn": (8, 16, 32),
}


@pytest.mark.parametrize("name", sorted(STRIDES))
def test_levels_and_anchors_follow_the_stride(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name, num_classes=3)
    assert model.feature_strides == STRIDES[name]
    anchors = getattr(model, "anchor_generator", None) or model.rpn.anchor_generator
    sizes = anchors.sizes
    assert len(sizes) == len(STRIDES[name])
    if name.startswith("fcos"):
        assert sizes == tuple((float(s),) for s in STRIDES[name])
    elif name.endswith("_fpn"):
        multiple = 8 if name.startswith("fasterrcnn") else 4
        assert [level[0] for level in sizes] == [multiple * s for s in STRIDES[name]]
    else:
        assert sizes == ((32.0, 64.0, 128.0, 256.0, 512.0),)  # detectron2's DC5 anchors


@pytest.mark.parametrize(("name", "reference"), [
    ("fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn"),
    ("retinanet_resnet50_fpn", "retinanet_resnet50_fpn"),
    ("fcos_resnet50_fpn", "fcos_resnet50_fpn")])
def test_resnet50_fpn_models_are_torchvisions(name: str, reference: str) -> None:
    """Same state-dict keys and shapes, and with the same weights the same pyramid and the same
    detections: a torchvision COCO checkpoint loads into drnet's model (with
    ``norm_layer="frozenbn"``). The score threshold is 0: at initialisation RetinaNet's and
    FCOS's class prior keeps every score below the default 0.05, and empty outputs would agree
    whatever the backbone computed."""
    threshold = {"box_score_thresh": 0.0} if name.startswith("fasterrcnn") else {
        "score_thresh": 0.0, "detections_per_img": 100}  # torchvision's RetinaNet keeps 300
    torch.manual_seed(0)
    theirs = getattr(detection, reference)(weights=None, weights_backbone=None, num_classes=5,
                                           min_size=64, max_size=64, **threshold).eval()
    ours = create_model(name, num_classes=5, min_size=64, max_size=64, score_thresh=0.0).eval()
    ours.load_state_dict(theirs.state_dict())  # strict: identical layout
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 64)]
    with torch.no_grad():
        batch = torch.rand(1, 3, 64, 64)
        ours_maps, their_maps = ours.backbone(batch), theirs.backbone(batch)
        assert list(ours_maps) == list(their_maps)
        for level, their_map in their_maps.items():
            torch.testing.assert_close(ours_maps[level], their_map, msg=level)
        for a, b in zip(ours(images), theirs(images), strict=True):
            assert len(b["boxes"]) == 100  # something to compare
            for key in ("boxes", "scores", "labels"):
                torch.testing.assert_close(a[key], b[key])


def test_anchor_rules_by_hand() -> None:
    assert anchor_sizes_for("fasterrcnn", (16,), (8, 16), single_map=True) == ((8.0, 16.0),)
    octaves = anchor_sizes_for("retinanet", (8, 16), None, single_map=False)
    assert octaves[1] == (64.0, 80.0, 101.0)  # 64 x 2^(0, 1/3, 2/3), truncated as torchvision
    with pytest.raises(ValueError, match="one size per level"):
        anchor_sizes_for("fasterrcnn", (4, 8, 16), (32, 64), single_map=False)
    with pytest.raises(ValueError, match="does not apply to fcos"):
        anchor_sizes_for("fcos", (8,), (8,), single_map=True)


def test_fpn_takes_the_last_stage_of_each_stride() -> None:
    resnet = create_model("resnet18", output_stride=16, num_classes=0)
    # relu 2, layer1 4, layer2 8, layer3 16, layer4 16 (dilated)
    assert fpn_out_indices(resnet.feature_info, 4) == (1, 2, 4)
    drn = create_model("drn_d_tiny", num_classes=0)
    # layer1 1, layer2 2, layer3 4, layer4..layer8 8
    assert fpn_out_indices(drn.feature_info, 4) == (2, 7)
    assert fpn_out_indices(drn.feature_info, 8) == (7,)


def test_bad_arguments_name_what_is_expected() -> None:
    with pytest.raises(ValueError, match="counts the background"):
        create_model("fasterrcnn_drn_d_tiny", num_classes=1)
    with pytest.raises(ValueError, match="representation_size"):
        create_model("retinanet_drn_d_tiny", num_classes=3, representation_size=64)
    with pytest.raises(ValueError, match="output_stride must be one of"):
        create_model("fasterrcnn_resnet18_dc5", output_stride=4)


@pytest.mark.parametrize("name", ["fasterrcnn_resnet18_dc5", "fasterrcnn_drn_d_tiny_fpn",
                                  "retinanet_drn_d_tiny", "fcos_drn_d_tiny_fpn"])
def test_train_and_eval_forward(name: str) -> None:
    # score_thresh 0: at initialisation the class prior keeps RetinaNet/FCOS scores below the
    # default threshold, and the box checks below would loop over nothing
    model = create_model(name, num_classes=3, min_size=64, max_size=96, score_thresh=0.0)
    images = [torch.rand(3, 64, 80), torch.rand(3, 50, 64)]
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0], [40.0, 10.0, 60.0, 20.0]]),
                "labels": torch.tensor([1, 2])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    losses = model(images, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    body = model.backbone.body
    assert all(p.grad is not None for p in body.parameters())
    model.eval()
    with torch.no_grad():
        out = model(images)
    for o, image in zip(out, images, strict=True):  # boxes in the input's own pixels
        assert o["boxes"].shape[0] > 0
        assert o["boxes"].shape[1] == 4
        assert (o["boxes"][:, 2] <= image.shape[2]).all()
        assert (o["boxes"][:, 3] <= image.shape[1]).all()


def test_dc5_and_os32_are_the_same_network(tmp_path: Path) -> None:
    """Output stride changes sampling, not weights: an OS32 checkpoint loads into DC5."""
    os32 = create_model("fasterrcnn_resnet18_dc5", num_classes=3, output_stride=32)
    path = tmp_path / "os32.pth"
    torch.save(os32.state_dict(), path)
    dc5 = create_model("fasterrcnn_resnet18_dc5", num_classes=3, pretrained=str(path))
    assert (dc5.output_stride, os32.output_stride) == (16, 32)
    for key, value in os32.state_dict().items():
        torch.testing.assert_close(dc5.state_dict()[key], value)
    with pytest.warns(UserWarning, match="classifier"):  # another class count: head dropped
        create_model("fasterrcnn_resnet18_dc5", num_classes=5, pretrained=str(path))


def test_pretrained_backbone_loads_into_the_body_with_frozen_bn(tmp_path: Path) -> None:
    backbone = create_model("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(backbone.state_dict(), path)
    model = create_model("fasterrcnn_resnet18_dc5", num_classes=3, pretrained_backbone=str(path))
    body = model.backbone.body
    torch.testing.assert_close(body.layer4[1].conv2.weight, backbone.layer4[1].conv2.weight)
    assert isinstance(body.bn1, FrozenBatchNorm2d)  # small detection batches
    assert body.layer4[1].conv2.dilation == (2, 2)
