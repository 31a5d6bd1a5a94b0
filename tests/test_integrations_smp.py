"""SMP architectures on drnet backbones through timm: encoder features equal drnet's (same
weights, float64), training steps reach the encoder, prediction at odd sizes, and the table of
architectures x output strides that the README shows."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
import torch.nn.functional as F

from drnet import create_model

smp = pytest.importorskip("segmentation_models_pytorch")
pytest.importorskip("drnet.integrations.timm")
from drnet.integrations.smp import PadToMultiple, encoder_name  # noqa: E402

DEEPLAB = ("DeepLabV3", "DeepLabV3Plus")


def build(arch: str, backbone: str, output_stride: int | None = None, **kwargs) -> torch.nn.Module:
    if output_stride is not None:
        kwargs["encoder_output_stride"] = output_stride
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DPT's readout hint, nothing of ours
        return smp.create_model(arch, encoder_name=encoder_name(backbone), encoder_weights=None,
                                classes=3, **kwargs)


def load_trunk(features: torch.nn.Module, state: dict) -> None:
    result = features.load_state_dict(state, strict=False)
    assert not result.missing_keys
    assert all(k.startswith("fc.") for k in result.unexpected_keys)


def test_encoder_names() -> None:
    assert encoder_name("resnet50") == "tu-drnet_resnet50"
    assert encoder_name("drn_d_22") == "tu-drnet_drn_d_22_os32"
    assert encoder_name("drnet_drn_c_26", "imagenet1k") == "tu-drnet_drn_c_26_os32.imagenet1k"
    with pytest.raises(ValueError, match=r"drn_a_50 exists only at output stride 8.*'resnet50' "
                                         r"with encoder_output_stride=8"):
        encoder_name("drn_a_50")
    with pytest.raises(ValueError, match=r"backbone must be a drnet backbone \(drn_c_26, .*, "
                                         r"resnet152\), got "
                                         r"'vgg16'"):
        encoder_name("vgg16")


@pytest.mark.parametrize(("backbone", "output_stride"), [
    ("resnet18", 8), ("resnet18", 16), ("drn_d_tiny", 8), ("drn_d_tiny", 16)])
def test_smp_encoder_computes_drnets_features(backbone: str, output_stride: int) -> None:
    """SMP's encoder on drnet's weights equals drnet's own features_only model at the same
    output stride -- at 8 on a DRN, the published DRN's stage maps."""
    torch.manual_seed(0)
    state = create_model(backbone).state_dict()
    model = build("DeepLabV3Plus", backbone, output_stride)
    load_trunk(model.encoder.model, state)
    mine = create_model(backbone, features_only=True, output_stride=output_stride)
    load_trunk(mine, state)
    x = torch.randn(1, 3, 32, 48, dtype=torch.float64)
    with torch.no_grad():
        got = model.encoder.double().eval()(x)
        want = mine.double().eval()(x)
    if backbone.startswith("resnet"):  # SMP puts the input first, then the 5 strided levels
        assert torch.equal(got[0], x)
        got, levels = got[1:], range(5)
    else:  # a DRN's first stage keeps full resolution: SMP's "VGG-style" encoder
        levels = (0, 1, 2, 3, 4, 7)
    assert len(got) == len(levels)
    for index, level in zip(range(len(got)), levels, strict=True):
        torch.testing.assert_close(got[index], want[level], rtol=0, atol=0)
    assert model.encoder.out_channels[-len(levels):] == [mine.feature_info[i].num_chs
                                                          for i in levels]


def test_smp_output_stride_8_is_exact_atrous() -> None:
    """Independent of drnet's code: SMP's OS-8 encoder, sampled every 4 pixels, is its OS-32
    encoder on the same weights (SMP's own make_dilated does not keep this)."""
    torch.manual_seed(0)
    coarse, dense = build("FPN", "resnet18"), build("DeepLabV3", "resnet18", 8)
    dense.encoder.load_state_dict(coarse.encoder.state_dict())
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        sampled = dense.encoder.double().eval()(x)[-1][..., ::4, ::4]
        reference = coarse.encoder.double().eval()(x)[-1]
        torch.testing.assert_close(sampled, reference, rtol=1e-10, atol=1e-10)
        # The contrast: SMP's native ResNet-18 encoder, dilated by SMP on the same weights.
        native = smp.DeepLabV3("resnet18", encoder_weights=None, encoder_output_stride=8).encoder
        native.load_state_dict({k.removeprefix("model."): v for k, v in
                                coarse.encoder.state_dict().items() if "fc." not in k})
        off = native.double().eval()(x)[-1][..., ::4, ::4] - reference
    assert off.abs().max() > 0.1 * reference.abs().max()


@pytest.mark.parametrize("arch", ["Unet", "FPN", *DEEPLAB])
@pytest.mark.parametrize("backbone", ["resnet18", "drn_d_tiny"])
def test_trains_one_step_and_predicts_at_an_odd_size(arch: str, backbone: str) -> None:
    torch.manual_seed(0)
    model = build(arch, backbone, 8 if arch in DEEPLAB else None)
    stem = model.encoder.model.get_submodule(
        "conv1" if backbone.startswith("resnet") else "layer0.0").weight
    before = stem.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(stem, before)  # the step reached drnet's first conv
    model.eval()
    odd = torch.randn(1, 3, 45, 37)
    with torch.no_grad():
        assert PadToMultiple(model)(odd).shape == (1, 3, 45, 37)
        torch.testing.assert_close(PadToMultiple(model)(x), model(x))  # no padding: same call
        if arch != "Unet":  # Unet alone resizes its skips itself
            with pytest.raises(RuntimeError, match="divisible by"):
                model(odd)


# The README's table: what each SMP architecture does with a drnet backbone at each
# encoder_output_stride (None: the architecture's default). "ok" = builds and predicts.
_NO_OPTION = r"drn_d_tiny got unexpected argument\(s\) \['encoder_output_stride'\]"
TABLE = {
    **{arch: {8: _NO_OPTION, 16: _NO_OPTION, 32: "ok"} for arch in (
        "Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet", "UPerNet", "Segformer")},
    "DeepLabV3": {8: "ok", 16: "ok", 32: r"support output stride 8 or 16, got 32"},
    "DeepLabV3Plus": {8: "ok", 16: "ok", 32: r"support output stride 8 or 16, got 32"},
    "PAN": {8: r"PAN support output stride 16 or 32, got 8", 16: "ok", 32: "ok"},
    # DPT reads forward_intermediates and timm's dict-like feature_info (drnet has both)
    "DPT": {8: _NO_OPTION, 16: _NO_OPTION, 32: "ok"},
}


@pytest.mark.parametrize(("arch", "output_stride"),
                         [(a, s) for a in TABLE for s in (8, 16, 32)])
def test_architecture_table(arch: str, output_stride: int) -> None:
    expected = TABLE[arch][output_stride]
    option = output_stride if output_stride != 32 or arch in ("PAN", *DEEPLAB) else None
    if expected != "ok":
        with pytest.raises((ValueError, TypeError), match=expected):
            build(arch, "drn_d_tiny", option)
        return
    model = build(arch, "drn_d_tiny", option).eval()
    # PAN's pyramid attention pools its last map: it needs 8 pixels there
    size = 8 * output_stride if arch == "PAN" else 64
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 3, size, size)


def test_published_drn_names_are_not_smp_encoders() -> None:
    """SMP probes levels at the default stride; the published DRN's stop at 8. Its message is
    SMP's; encoder_name gives the name that works."""
    with pytest.raises(ValueError, match=re.escape("Unsupported model downsampling pattern")):
        smp.Unet("tu-drnet_drn_d_tiny", encoder_weights=None)
    assert encoder_name("drnet_drn_d_tiny") == "tu-drnet_drn_d_tiny_os32"


def test_pretrained_encoder_weights_load_through_drnet(tmp_path) -> None:
    """SMP passes extra keywords to timm: a weights file reaches drnet's loader."""
    torch.manual_seed(5)
    state = create_model("drn_d_tiny").state_dict()
    torch.save(state, tmp_path / "w.pth")
    model = smp.DeepLabV3(encoder_name("drn_d_tiny"), encoder_weights=True, classes=3,
                          pretrained_cfg_overlay={"file": str(tmp_path / "w.pth")})
    for key, value in model.encoder.model.state_dict().items():
        assert torch.equal(value, state[key]), key
