"""drnet's backbones through timm's own API: names, forward and features against drnet's models
on the same weights, output stride, pretrained cfgs and weights through drnet's loader."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

import drnet.models.pretrained as catalogue
from drnet import create_model, list_models
from drnet.models import sources

timm = pytest.importorskip("timm")
integration = pytest.importorskip("drnet.integrations.timm")

DRN_CD = [n for n in list_models(family="drn") if n != "drn_a_50"]
BACKBONES = [*list_models(family="resnet"), *list_models(family="drn")]


def test_import_drnet_imports_no_integration_library() -> None:
    code = ("import sys, drnet, drnet.models, drnet.integrations, drnet.integrations.names; "
            "loaded = {'timm', 'segmentation_models_pytorch', 'huggingface_hub'} & "
            "set(sys.modules); assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_backbone_is_registered_under_the_drnet_prefix() -> None:
    expected = {f"drnet_{n}" for n in BACKBONES} | {f"drnet_{n}_os32" for n in DRN_CD}
    assert set(timm.list_models("drnet_*")) == expected
    assert set(integration.list_timm_names()) == expected
    assert integration.timm_name("drn_d_22") == "drnet_drn_d_22"
    assert integration.timm_name("drn_d_22", pyramid=True) == "drnet_drn_d_22_os32"
    with pytest.raises(ValueError, match=r"drnet_name must be a drnet DRN-C/D backbone .*got "
                                         r"'resnet50'"):
        integration.timm_name("resnet50", pyramid=True)


def test_a_name_timm_already_has_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(timm.models, "model_entrypoint", lambda name: len)  # someone else's
    with pytest.raises(RuntimeError, match=r"timm already has a model named 'drnet_"):
        integration._register()


@pytest.mark.parametrize("name", sorted(integration.list_timm_names()))
def test_every_name_builds_with_drnets_parameters_and_cfg(name: str) -> None:
    """On the meta device (no memory, no init cost): the architecture, the default output
    stride and the registered cfg's first conv and classifier."""
    spec = integration._SPECS[name]
    with torch.device("meta"):
        model = timm.create_model(name)
        stride = {"output_stride": spec.default_output_stride} if spec.default_output_stride else {}
        reference = create_model(spec.drnet_name, **stride)
    assert type(model) is type(reference)
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in reference.state_dict().items()]
    assert model.output_stride == (32 if name.endswith("_os32") else reference.output_stride)
    cfg = timm.models.get_pretrained_cfg(name)
    assert cfg.first_conv == model.first_conv
    assert (cfg.classifier,) == model.classifier_names


def load_trunk(features: torch.nn.Module, state: dict) -> torch.nn.Module:
    """Load a backbone's state into its features_only model: every key but the head's."""
    result = features.load_state_dict(state, strict=False)
    assert not result.missing_keys
    assert all(k.startswith("fc.") for k in result.unexpected_keys)
    return features


# One representative per family and block type (ResNet basic/bottleneck, DRN-A, C, D).
FORWARD = ["resnet18", "resnet50", "drn_a_50", "drn_c_26", "drn_d_22", "drn_d_tiny"]


@pytest.mark.parametrize("name", FORWARD)
def test_forward_and_features_match_drnet_on_the_same_weights(name: str) -> None:
    torch.manual_seed(1)
    reference = create_model(name, num_classes=10).double().eval()
    torch.manual_seed(2)  # another initialisation: equality below comes from the weights
    model = timm.create_model(f"drnet_{name}", num_classes=10).double().eval()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 23, 19, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
        features = timm.create_model(f"drnet_{name}", features_only=True).double().eval()
        load_trunk(features, reference.state_dict())
        mine = load_trunk(create_model(name, features_only=True).double().eval(),
                          reference.state_dict())
        for got, want in zip(features(x), mine(x), strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
    info = features.feature_info
    assert info.channels() == [f.num_chs for f in mine.feature_info]
    assert info.reduction() == [f.reduction for f in mine.feature_info]
    assert info.module_name() == [f.module for f in mine.feature_info]
    assert info.get("dilation") == [f.dilation for f in mine.feature_info]


def test_pyramid_names_return_one_level_per_stride() -> None:
    torch.manual_seed(0)
    reference = create_model("drn_d_tiny", output_stride=8).double().eval()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    mine = load_trunk(create_model("drn_d_tiny", features_only=True).double().eval(),
                      reference.state_dict())
    assert integration.pyramid_levels() == (0, 1, 2, 3, 4, 7)  # stages 1-5 and 8
    default = timm.create_model("drnet_drn_d_tiny_os32", features_only=True)
    assert default.feature_info.reduction() == [1, 2, 4, 8, 16, 32]
    assert default.feature_info.module_name() == [f"layer{i}" for i in (1, 2, 3, 4, 5, 8)]
    dense = timm.create_model("drnet_drn_d_tiny_os32", features_only=True, output_stride=8,
                              out_indices=(1, -1)).double().eval()
    load_trunk(dense, reference.state_dict())
    assert dense.feature_info.reduction() == [2, 8]
    with torch.no_grad():
        got, want = dense(x), mine(x)
    torch.testing.assert_close(got[0], want[1], rtol=0, atol=0)
    torch.testing.assert_close(got[1], want[7], rtol=0, atol=0)  # the published DRN's last map


def test_output_stride_through_timm_is_exact_atrous() -> None:
    """Independent of drnet's code: at output stride 8, the last map sampled every 4 pixels is
    the output-stride-32 map (design.md §3), so output_stride reaches drnet's builder."""
    torch.manual_seed(0)
    coarse = timm.create_model("drnet_resnet18", features_only=True, out_indices=1)
    dense = timm.create_model("drnet_resnet18", features_only=True, out_indices=1,
                              output_stride=8)
    dense.load_state_dict(coarse.state_dict())
    assert dense.feature_info.reduction() == [8]
    x = torch.randn(1, 3, 65, 65, dtype=torch.float64)
    with torch.no_grad():
        sampled = dense.double().eval()(x)[0][..., ::4, ::4]
        torch.testing.assert_close(sampled, coarse.double().eval()(x)[0], rtol=1e-10,
                                   atol=1e-10)


def test_registered_cfgs_are_drnets_records() -> None:
    for name in integration.list_timm_names():
        spec = integration._SPECS[name]
        records = catalogue.list_pretrained(spec.drnet_name)
        tags = [t.split(".", 1)[1] for t in timm.list_pretrained(name)]
        assert sorted(tags) == sorted(w.tag for w in records)
        for record in records:
            cfg = timm.models.get_pretrained_cfg(f"{name}.{record.tag}")
            assert (cfg.url, cfg.num_classes, cfg.mean, cfg.std) == (
                record.url, record.num_classes, record.mean, record.std)
            assert cfg.label_names == record.class_names
            assert integration.weights_source(spec, cfg) == record.tag  # drnet's loader
    default = timm.models.get_pretrained_cfg("drnet_resnet50")
    assert default.tag == "imagenet1k_v2"  # torchvision's DEFAULT, drnet's pretrained=True
    assert default.crop_pct == round(224 / 232, 4)  # its evaluation resize
    assert timm.models.get_pretrained_cfg("drnet_drn_d_22").crop_pct == 0.875
    config = timm.data.resolve_model_data_config(timm.create_model("drnet_drn_d_22"))
    assert (config["mean"], config["std"]) == (catalogue.IMAGENET_MEAN, catalogue.IMAGENET_STD)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(sources.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    monkeypatch.delenv(sources.MIRRORS_ENV, raising=False)
    (tmp_path / "weights").mkdir()
    return tmp_path / "weights"


def test_a_pretrained_tag_loads_through_drnets_catalogue(weights_dir, monkeypatch) -> None:
    torch.manual_seed(3)
    state = create_model("drn_d_tiny", num_classes=4).state_dict()
    torch.save(state, weights_dir / "drn_d_tiny-test.pth")
    record = catalogue.PretrainedWeights(
        "drn_d_tiny", "test", "http://127.0.0.1:9/drn_d_tiny-test.pth", 4, "tests",
        mean=(0.1, 0.2, 0.3), std=(0.3, 0.2, 0.1))
    monkeypatch.setattr(catalogue, "PRETRAINED", (*catalogue.PRETRAINED, record))
    cfg = {"url": record.url, "tag": "test", "num_classes": 4}
    model = timm.create_model("drnet_drn_d_tiny", pretrained=True, pretrained_cfg=cfg)
    torch.testing.assert_close(model.state_dict(), state)
    assert model.preprocessing == record.preprocessing  # drnet's record, not just the tensors
    assert (model.pretrained_cfg["url"], model.num_classes) == (record.url, 4)


def test_a_file_overlay_loads_with_drnets_adaptation(tmp_path) -> None:
    """timm's train.py --pretrained-path: a file, another head size, one input channel."""
    torch.manual_seed(4)
    state = create_model("drn_d_tiny", num_classes=4).state_dict()
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    overlay = {"file": str(tmp_path / "w.pth"), "num_classes": -1}
    with pytest.warns(UserWarning, match=r"classifier .* does not match"):
        model = timm.create_model("drnet_drn_d_tiny", pretrained=True, num_classes=6,
                                  in_chans=1, pretrained_cfg_overlay=overlay)
    assert model.fc.out_channels == 6
    torch.testing.assert_close(model.layer0[0].weight, state["layer0.0.weight"].sum(1, True))
    torch.testing.assert_close(model.layer5[0].conv1.weight, state["layer5.0.conv1.weight"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"drop_rate": 0.2}, r"drop_rate must be 0 for drnet_drn_d_tiny .*got 0\.2"),
    ({"drop_path_rate": 0.1}, r"drop_path_rate must be 0 .*got 0\.1"),
    ({"global_pool": "max"}, r"global_pool must be 'avg' for drnet_drn_d_tiny .*got 'max'"),
    ({"features_only": True, "feature_cls": "hook"}, r"feature_cls must be 'list' .*'hook'"),
    ({"features_only": True, "out_indices": (0, 9)},
     r"out_indices for drnet_drn_d_tiny must be .* in \[-8, 8\) .*got \(0, 9\)"),
    ({"pretrained": True, "cache_dir": "/tmp"}, r"cache_dir is not used .*DRNET_WEIGHTS_DIR"),
    ({"pretrained": True}, r"no pretrained weights are known for drnet_drn_d_tiny; known: none"),
    ({"bn_eps": 1e-3}, r"drn_d_tiny got unexpected argument\(s\) \['bn_eps'\]"),
])
def test_what_drnet_cannot_honour_is_a_one_line_error(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message) as info:
        timm.create_model("drnet_drn_d_tiny", **kwargs)
    assert "\n" not in str(info.value)


def test_timm_train_defaults_are_accepted() -> None:
    """timm's train.py passes drop_rate=0.0 and None for the options it leaves unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = timm.create_model("drnet_drn_d_tiny", drop_rate=0.0, drop_path_rate=None,
                                  global_pool=None, bn_momentum=None, num_classes=3)
    assert model.num_classes == 3


def test_timm_training_pipeline_calls() -> None:
    """What timm's train.py does with a model, in miniature: data config and transforms from
    the model's pretrained_cfg, timm's optimizer factory (weight-decay groups), EMA, a step."""
    import numpy as np
    import timm.loss
    import timm.optim
    import timm.utils
    from PIL import Image

    model = timm.create_model("drnet_drn_d_tiny", num_classes=3, drop_rate=0.0)
    config = timm.data.resolve_data_config({}, model=model)
    assert (config["mean"], config["interpolation"]) == (catalogue.IMAGENET_MEAN, "bilinear")
    transform = timm.data.create_transform(**{**config, "input_size": (3, 32, 32)},
                                           is_training=True)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), np.uint8))
    batch = torch.stack([transform(image), transform(image)])
    optimizer = timm.optim.create_optimizer_v2(model, opt="sgd", lr=0.1, weight_decay=1e-4)
    assert len(optimizer.param_groups) == 2  # timm puts norms and biases in a no-decay group
    ema = timm.utils.ModelEmaV3(model, decay=0.9)
    before = model.layer0[0].weight.detach().clone()
    loss = timm.loss.LabelSmoothingCrossEntropy(0.1)(model(batch), torch.tensor([0, 2]))
    loss.backward()
    optimizer.step()
    ema.update(model)
    assert batch.shape == (2, 3, 32, 32)
    assert not torch.equal(model.layer0[0].weight, before)
