"""DRN family: official layout, parameter counts, dilation placement, official checkpoints."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from drnet import CheckpointError, create_model, load_pretrained
from drnet.layers import BasicBlock, Bottleneck
from tests.official_drn_layout import (
    BLOCKS,
    official_drnseg_d_22_forward,
    official_shapes,
    official_state_dict,
    to_drnseg_layout,
)

# design.md §4 / the DRN paper and official README, millions, 1000-class head.
PUBLISHED_PARAMS_M = {
    "drn_a_50": 25.56, "drn_c_26": 21.13, "drn_c_42": 31.23, "drn_c_58": 41.59,
    "drn_d_22": 16.39, "drn_d_24": 21.11, "drn_d_38": 26.50, "drn_d_40": 31.22,
    "drn_d_54": 35.81, "drn_d_56": 40.53, "drn_d_105": 54.80, "drn_d_107": 59.52,
}
# DRN-C-58's stage-7 projection (2048 -> 512 1x1 conv + BN) that the official code computes and
# discards; drnet does not build it.
C58_DEAD = 2048 * 512 + 2 * 512


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS_M))
def test_parameter_counts_match_published(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    count = sum(p.numel() for p in model.parameters())
    if name == "drn_c_58":
        count += C58_DEAD
    assert round(count / 1e6, 2) == PUBLISHED_PARAMS_M[name]


@pytest.mark.parametrize("name", list(BLOCKS))
def test_state_dict_has_the_official_layout(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = official_shapes(name)
    if name == "drn_c_58":
        dead = {k for k in official if k.startswith("layer7.0.downsample.")}
        assert len(dead) == 6  # conv weight + BN weight, bias, mean, var, count
        official = {k: v for k, v in official.items() if k not in dead}
    assert ours == official


@pytest.mark.parametrize("name", list(BLOCKS))
def test_official_checkpoint_loads_strictly(name: str, tmp_path) -> None:
    state = official_state_dict(name)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    model = create_model(name, pretrained=str(path))
    loaded = model.state_dict()
    for key, value in state.items():
        if key.startswith("layer7.0.downsample."):  # only C-58; dropped by name
            assert name == "drn_c_58"
            assert key not in loaded
        else:
            torch.testing.assert_close(loaded[key], value)


def _conv3x3(model: torch.nn.Module, stage: str) -> list[int]:
    return [m.dilation[0] for n, m in model.named_modules()
            if n.startswith(stage + ".") and isinstance(m, torch.nn.Conv2d)
            and m.kernel_size == (3, 3)]


@pytest.mark.parametrize("name", ["drn_c_26", "drn_c_58", "drn_d_24", "drn_d_105"])
def test_dilations_and_degridding(name: str) -> None:
    model = create_model(name)
    for stage, dilation in zip(range(1, 9), (1, 1, 1, 1, 2, 4, 2, 1), strict=True):
        rates = _conv3x3(model, f"layer{stage}")
        assert rates, stage
        assert set(rates) == {dilation}, (stage, rates)  # first block included
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock | Bottleneck)]
    for stage in (7, 8):
        layer = getattr(model, f"layer{stage}")
        for block in layer.modules():
            if isinstance(block, BasicBlock | Bottleneck):
                assert not block.residual
                assert block.downsample is None
    assert all(b.residual for b in blocks if b not in set(model.layer7.modules())
               | set(model.layer8.modules()))


@pytest.mark.parametrize(("output_stride", "reductions", "rates"), [
    (16, [1, 2, 4, 8, 16, 16, 16, 16], [1, 1, 1, 1, 1, 2, 1, 1]),
    (32, [1, 2, 4, 8, 16, 32, 32, 32], [1, 1, 1, 1, 1, 1, 1, 1]),
])
def test_other_output_strides_stride_again_and_shrink_dilations(
        output_stride: int, reductions: list[int], rates: list[int]) -> None:
    model = create_model("drn_d_22", output_stride=output_stride, features_only=True)
    assert [f.reduction for f in model.feature_info] == reductions
    assert [f.dilation for f in model.feature_info] == rates
    assert model(torch.randn(1, 3, 64, 64))[-1].shape[-1] == 64 // output_stride
    official = official_shapes("drn_d_22")  # weights are unchanged: still loadable
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
        k: v for k, v in official.items() if not k.startswith("fc.")}


def test_dilation_override_removes_dilation() -> None:
    model = create_model("drn_d_tiny", dilations=(1,) * 8)
    for stage in range(1, 9):
        assert set(_conv3x3(model, f"layer{stage}")) == {1}
    assert model.output_stride == 8


def test_degridding_stage_has_no_shortcut() -> None:
    model = create_model("drn_c_26").eval()
    block = model.layer7[0]
    x = torch.randn(1, 512, 9, 9)
    y = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))
    torch.testing.assert_close(block(x), y)


@pytest.mark.parametrize("name", ["drn_d_22", "drn_c_26", "drn_c_58"])
def test_official_drnseg_checkpoint_loads(name: str, tmp_path) -> None:
    backbone = official_state_dict(name)
    official = to_drnseg_layout(backbone, name, num_classes=19)
    # Training checkpoints of the official code: DataParallel prefix, {"state_dict": ...}.
    wrapped = {"epoch": 250, "arch": name,
               "state_dict": {f"module.{k}": v for k, v in official.items()}}
    path = tmp_path / f"{name}_cityscapes.pth"
    torch.save(wrapped, path)
    seg = create_model(f"drnseg_{name.removeprefix('drn_')}", num_classes=19, upsample="transposed")
    report = load_pretrained(seg, path)
    loaded = seg.state_dict()
    first = "backbone.conv1.weight" if name.startswith("drn_c") else "backbone.layer0.0.weight"
    torch.testing.assert_close(loaded[first], backbone[first.removeprefix("backbone.")])
    torch.testing.assert_close(loaded["backbone.layer8.0.conv2.weight" if name.startswith("drn_c")
                                      else "backbone.layer8.0.weight"],
                               backbone["layer8.0.conv2.weight" if name.startswith("drn_c")
                                        else "layer8.0.weight"])
    torch.testing.assert_close(loaded["head.classifier.weight"], official["seg.weight"])
    torch.testing.assert_close(loaded["up.weight"], official["up.weight"])
    dead = {f"backbone.{k}" for k in backbone if k.startswith("layer7.0.downsample")}
    assert set(report.dropped) == dead
    assert bool(dead) == (name == "drn_c_58")


def test_official_drnseg_checkpoint_into_other_configurations(tmp_path) -> None:
    official = to_drnseg_layout(official_state_dict("drn_d_22"), "drn_d_22", num_classes=19)
    torch.save(official, tmp_path / "city.pth")
    bilinear = create_model("drnseg_d_22", num_classes=19, upsample="bilinear")
    # The file's transposed upsampling is never dropped silently (it changes the function)...
    with pytest.raises(CheckpointError, match=r"up.weight.*upsample='transposed'"):
        load_pretrained(bilinear, tmp_path / "city.pth")
    # ... only on request.
    report = load_pretrained(bilinear, tmp_path / "city.pth", drop=("up",))
    assert report.dropped == ["up.weight"]
    torch.testing.assert_close(bilinear.head.classifier.bias, official["seg.bias"])
    other = create_model("drnseg_d_22", num_classes=21, upsample="transposed")
    with pytest.warns(UserWarning, match="another num_classes"):
        report = load_pretrained(other, tmp_path / "city.pth")
    assert set(report.dropped) == {"head.classifier.weight", "head.classifier.bias", "up.weight"}
    assert other.up.weight.shape == (21, 1, 16, 16)
    torch.testing.assert_close(other.backbone.layer0[0].weight, official["base.0.0.weight"])


def test_official_drnseg_file_with_default_arguments_is_the_official_model(tmp_path) -> None:
    """Judged by issue 17: a file in the official layout, loaded with default arguments, gives
    the official log-probabilities (the upsampling and class count are read from the file)."""
    official = to_drnseg_layout(official_state_dict("drn_d_22"), "drn_d_22", num_classes=7)
    torch.save({"state_dict": {f"module.{k}": v for k, v in official.items()}},
               tmp_path / "mine.pth")
    seg = create_model("drnseg_d_22", pretrained=tmp_path / "mine.pth").eval()
    assert seg.num_classes == 7
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        drnet_logp = seg(x).log_softmax(dim=1)
    reference = official_drnseg_d_22_forward(official, x)
    assert (drnet_logp - reference).abs().max() <= 1e-4
    # Asking for bilinear upsampling explicitly is allowed, and computes something else.
    bilinear = create_model("drnseg_d_22", pretrained=tmp_path / "mine.pth",
                            upsample="bilinear").eval()
    with torch.no_grad():
        assert (bilinear(x).log_softmax(dim=1) - reference).abs().max() > 1e-2


def test_a_checkpoint_without_up_weight_loads_into_the_transposed_model(tmp_path) -> None:
    # The frozen bilinear kernel is rebuilt by the model; the trained classifier must load
    # (an earlier version dropped it as "another num_classes").
    trained = create_model("drnseg_d_22", num_classes=5)
    torch.nn.init.normal_(trained.head.classifier.weight)
    torch.save(trained.state_dict(), tmp_path / "bilinear.pth")
    transposed = create_model("drnseg_d_22", num_classes=5, upsample="transposed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = load_pretrained(transposed, tmp_path / "bilinear.pth")
    assert report.dropped == []
    torch.testing.assert_close(transposed.head.classifier.weight,
                               trained.head.classifier.weight)


def test_drnseg_matches_an_independent_official_forward(tmp_path) -> None:
    """Official DRNSeg(drn_d_22) forward written with torch.nn.functional on the raw weights."""
    official = to_drnseg_layout(official_state_dict("drn_d_22"), "drn_d_22", num_classes=4)
    seg = create_model("drnseg_d_22", num_classes=4, upsample="transposed").eval()
    torch.save(official, tmp_path / "seg.pth")
    load_pretrained(seg, tmp_path / "seg.pth")
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(seg(x).log_softmax(dim=1),
                                   official_drnseg_d_22_forward(official, x),
                                   rtol=1e-4, atol=1e-4)


def test_drn_keeps_working_with_large_and_small_inputs() -> None:
    # The official AvgPool2d(28) breaks for anything but 224x224 inputs.
    model = create_model("drn_c_26", num_classes=3).eval()
    for size in [(32, 32), (100, 60), (224, 224)]:
        assert model(torch.randn(1, 3, *size)).shape == (1, 3)
