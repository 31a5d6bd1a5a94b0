"""Checkpoint loading: formats, wrappers, mismatches, and refusal of code-carrying pickles."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch
import torchvision
from safetensors.torch import save_file

import drnet
from drnet import CheckpointError, create_model, load_pretrained
from drnet.models import list_pretrained, read_checkpoint
from drnet.models.pretrained import resolve_pretrained


@pytest.fixture
def resnet18_file(tmp_path):
    state = torchvision.models.resnet18().state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_checkpoint_file_loads_at_any_output_stride(resnet18_file) -> None:
    path, state = resnet18_file
    for output_stride in (8, 16, 32):
        model = create_model("resnet18", pretrained=path, output_stride=output_stride)
        torch.testing.assert_close(model.state_dict()["layer4.1.conv2.weight"],
                                   state["layer4.1.conv2.weight"])


def test_safetensors_and_wrappers(tmp_path, resnet18_file) -> None:
    _, state = resnet18_file
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}},
               tmp_path / "ddp.ckpt")
    torch.save({"model": {f"_orig_mod.{k}": v for k, v in state.items()}}, tmp_path / "tv.pth")
    for name in ("w.safetensors", "ddp.ckpt", "tv.pth"):
        model = create_model("resnet18", pretrained=tmp_path / name)
        torch.testing.assert_close(model.fc.weight, state["fc.weight"])


def test_a_model_whose_own_keys_start_like_a_wrapper_keeps_them(tmp_path) -> None:
    """``model.`` is stripped as a Lightning task's prefix only when the model's own keys do
    not start with it: a module holding the network as ``.model`` loads its own checkpoint."""

    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = create_model("drn_d_tiny", num_classes=3)

    saved = Holder()
    torch.save(saved.state_dict(), tmp_path / "holder.pth")
    fresh = Holder()
    report = load_pretrained(fresh, tmp_path / "holder.pth")
    assert "model.fc.weight" in report.loaded
    torch.testing.assert_close(fresh.model.fc.weight, saved.model.fc.weight)


def test_classifier_of_another_size_is_dropped_with_a_warning(resnet18_file) -> None:
    path, state = resnet18_file
    with pytest.warns(UserWarning, match="classifier .* does not match"):
        model = create_model("resnet18", pretrained=path, num_classes=10)
    assert model.fc.weight.shape == (10, 512)
    torch.testing.assert_close(model.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])
    headless = create_model("resnet18", num_classes=0)
    report = load_pretrained(headless, path)  # no warning: a headless model needs no classifier
    assert set(report.dropped) == {"fc.weight", "fc.bias"}


def test_wrong_architecture_lists_the_keys(resnet18_file) -> None:
    path, _ = resnet18_file
    with pytest.raises(CheckpointError) as info:
        create_model("resnet34", pretrained=path)
    message = str(info.value)
    assert str(path) in message
    assert "missing (" in message
    assert "layer1.2.conv1.weight" in message
    with pytest.raises(CheckpointError, match=r"mis-shaped \(\d+\): layer1.0.conv1.weight"):
        create_model("resnet50", pretrained=path)


def test_corrupted_and_missing_files(tmp_path, resnet18_file) -> None:
    path, _ = resnet18_file
    broken = tmp_path / "broken.pth"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"broken\.pth is not a readable checkpoint"):
        read_checkpoint(broken)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"bad\.safetensors is not a readable checkpoint"):
        read_checkpoint(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match=r"nowhere\.pth does not exist"):
        read_checkpoint(tmp_path / "nowhere.pth")
    with pytest.raises(ValueError, match="must be True, one of the tags"):
        create_model("resnet18", pretrained=str(tmp_path / "nowhere.pth"))
    torch.save({"epoch": 1, "note": "no tensors"}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        read_checkpoint(tmp_path / "empty.pth")


class _RunsCode:
    """Unpickling this object would call os.system -- the classic malicious checkpoint."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch) -> None:
    # torch >= 2.6 defaults to weights_only=True; the project allows older torch, whose default
    # unpickled anything. This variable restores that default for calls that do not say.
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}, "payload": _RunsCode(str(marker))},
               path)
    with zipfile.ZipFile(path) as archive:  # the payload really is in the file
        assert any(b"system" in archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.pth.*weights_only=True"):
        create_model("resnet18", pretrained=path)
    assert not marker.exists()
    # The same file unpickled without protection would have run the command.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_in_chans_adaptation_keeps_the_grey_response(resnet18_file) -> None:
    path, _ = resnet18_file
    rgb = create_model("resnet18", pretrained=path).eval()
    grey = create_model("resnet18", pretrained=path, in_chans=1).eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)
    five = create_model("resnet18", pretrained=path, in_chans=5)
    assert five.conv1.weight.shape == (64, 5, 7, 7)
    # Six channels repeat RGB twice at half weight: a grey image gets the RGB response exactly
    # (five channels, R G B R G at 3/5, only approximately, as timm's adapt_input_conv).
    six = create_model("resnet18", pretrained=path, in_chans=6).eval()
    with torch.no_grad():
        torch.testing.assert_close(six(x.expand(-1, 6, -1, -1)), rgb(x.expand(-1, 3, -1, -1)),
                                   rtol=1e-4, atol=1e-4)


def test_features_only_model_loads_a_full_checkpoint(resnet18_file) -> None:
    path, state = resnet18_file
    model = create_model("resnet18", features_only=True, out_indices=(1, 2))
    report = load_pretrained(model, path)
    assert any(k.startswith("layer4.") for k in report.dropped)
    torch.testing.assert_close(model.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])


def test_segmentation_model_takes_an_imagenet_backbone(resnet18_file) -> None:
    path, state = resnet18_file
    model = create_model("drnseg_resnet18", num_classes=3, pretrained_backbone=path)
    torch.testing.assert_close(model.backbone.conv1.weight, state["conv1.weight"])
    assert model.backbone.feature_info[-1].dilation == 4


def test_known_checkpoints_table() -> None:
    tags = {(w.model, w.tag) for w in list_pretrained()}
    assert ("resnet50", "imagenet1k_v1") in tags
    assert ("resnet50", "imagenet1k_v2") in tags
    assert {("drn_c_26", "imagenet1k"), ("drn_d_105", "imagenet1k"),
            ("drnseg_d_105", "cityscapes"), ("drnseg_d_22", "cityscapes")} <= tags
    record = resolve_pretrained("drn_d_22", True)
    assert record.url.endswith("drn_d_22-4bd2f8ea.pth")
    assert record.sha256_prefix == "4bd2f8ea"
    tv = resolve_pretrained("resnet50", "imagenet1k_v1")
    assert tv.url == torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url
    assert resolve_pretrained("resnet50", True).tag == "imagenet1k_v2"  # torchvision's DEFAULT
    city = resolve_pretrained("drnseg_d_105", "cityscapes")
    assert city.num_classes == 19
    assert city.overrides["upsample"] == "transposed"
    assert city.sha256_prefix is None
    with pytest.raises(ValueError, match="no public checkpoint is known for drn_d_24"):
        resolve_pretrained("drn_d_24", True)


def test_torchvision_parameter_counts_match_the_weight_records() -> None:
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        meta = torchvision.models.get_model_weights(name).DEFAULT.meta
        with torch.device("meta"):
            model = create_model(name)
        assert sum(p.numel() for p in model.parameters()) == meta["num_params"]


def test_hubconf_entry_points() -> None:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    model = torch.hub.load(repo, "drn_d_22", source="local", num_classes=4, trust_repo=True)
    assert isinstance(model, drnet.models.Backbone)
    assert model.fc.out_channels == 4
    pickle.dumps(model.state_dict())
