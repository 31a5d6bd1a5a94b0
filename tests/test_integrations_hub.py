"""A trained model to a Hub folder and back: identical outputs, preprocessing and arguments;
the same folder read by timm, pulled from an (offline) hub cache, and pushed with
huggingface_hub (its upload calls recorded, no network)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from drnet import create_model
from drnet.integrations.hub import from_pretrained, hub_config, push_to_hub, save_pretrained
from drnet.models.preprocessing import Preprocessing
from drnet.models.sources import WeightsNotFoundError
from tests.fixtures.weights import make_hub_cache

SEGMENTATION = ("drnseg_d_tiny", {"num_classes": 5, "upsample": "transposed"})
BACKBONE = ("drn_d_tiny", {"num_classes": 4, "output_stride": 16})


def trained(name: str, kwargs: dict) -> torch.nn.Module:
    """Random weights, BatchNorm statistics moved off their defaults, own preprocessing."""
    torch.manual_seed(7)
    model = create_model(name, **kwargs)
    with torch.no_grad():
        model.train()(torch.randn(2, 3, 32, 32))  # running means/vars change: buffers matter
    classes = tuple(f"class {i}" for i in range(kwargs["num_classes"]))
    model.preprocessing = Preprocessing((0.3, 0.4, 0.5), (0.2, 0.25, 0.3), classes,
                                        tuple((i, 2 * i, 3 * i) for i in range(len(classes))),
                                        "trained in a test")
    return model.eval()


def same_model(loaded: torch.nn.Module, model: torch.nn.Module) -> None:
    assert type(loaded) is type(model)
    assert _explicit(loaded.create_args) == _explicit(model.create_args)
    assert loaded.preprocessing == model.preprocessing
    x = torch.randn(2, 3, 37, 45)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model(x))


def _explicit(create_args: tuple) -> tuple:
    """timm passes in_chans=3 explicitly; drnet's default is the same."""
    name, kwargs = create_args
    return name, {k: v for k, v in kwargs.items() if (k, v) != ("in_chans", 3)}


@pytest.mark.parametrize(("name", "kwargs"), [SEGMENTATION, BACKBONE])
def test_folder_round_trip_is_identical(tmp_path, name: str, kwargs: dict) -> None:
    model = trained(name, kwargs)
    folder = save_pretrained(model, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert (config["drnet_model"], config["model_args"]) == (name, kwargs)
    assert Preprocessing.from_dict(config["preprocessing"]) == model.preprocessing
    same_model(from_pretrained(folder), model)
    with pytest.warns(UserWarning, match="classifier"):  # fine-tuning: a new head
        tuned = from_pretrained(folder, num_classes=2)
    assert tuned.num_classes == 2


def test_a_backbone_folder_is_also_timms(tmp_path) -> None:
    timm = pytest.importorskip("timm")
    pytest.importorskip("drnet.integrations.timm")
    model = trained(*BACKBONE)
    folder = save_pretrained(model, tmp_path / "model")
    config = hub_config(model)
    assert (config["architecture"], config["num_classes"]) == ("drnet_drn_d_tiny", 4)
    loaded = timm.create_model(f"local-dir:{folder}", pretrained=True)
    same_model(loaded, model)
    data = timm.data.resolve_model_data_config(loaded)
    assert (tuple(data["mean"]), tuple(data["std"])) == (model.preprocessing.mean,
                                                         model.preprocessing.std)
    assert tuple(loaded.pretrained_cfg["label_names"]) == model.preprocessing.class_names


def test_pulled_from_the_hub_cache_offline(tmp_path, hub_cache) -> None:
    timm = pytest.importorskip("timm")
    pytest.importorskip("drnet.integrations.timm")
    model = trained(*BACKBONE)
    folder = save_pretrained(model, tmp_path / "model")
    make_hub_cache(hub_cache, "drnet-test/tiny", {p.name: p for p in folder.iterdir()})
    same_model(from_pretrained("drnet-test/tiny"), model)
    same_model(from_pretrained("hf-hub:drnet-test/tiny"), model)
    same_model(timm.create_model("hf-hub:drnet-test/tiny", pretrained=True), model)
    with pytest.raises(WeightsNotFoundError, match=r"hf-hub:drnet-test/absent/config\.json"):
        from_pretrained("drnet-test/absent")


def test_push_uploads_the_saved_folder(tmp_path, monkeypatch) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id, kwargs))
        shutil.copytree(folder_path, tmp_path / "uploaded")  # what the hub would now hold
        return "commit-info"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    model = trained(*SEGMENTATION)
    assert push_to_hub(model, "me/seg", private=True) == "commit-info"
    assert calls == [("create_repo", "me/seg", {"private": True, "exist_ok": True}),
                     ("upload_folder", "me/seg", {"revision": None,
                                                  "commit_message": "Upload drnet model"})]
    same_model(from_pretrained(tmp_path / "uploaded"), model)


def test_what_cannot_be_saved_or_loaded_is_named(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"model must be built by drnet\.create_model .*got a "
                                         r"Conv2d"):
        save_pretrained(torch.nn.Conv2d(3, 3, 1), tmp_path / "a")
    model = create_model("drn_d_tiny", norm_layer=torch.nn.BatchNorm2d)
    with pytest.raises(ValueError, match=r"model_args\['norm_layer'\] = .*BatchNorm2d.* cannot "
                                         r"be written to config\.json"):
        save_pretrained(model, tmp_path / "b")
    assert not (tmp_path / "b").exists()  # nothing half-written
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty has no config\.json"):
        from_pretrained(tmp_path / "empty")


def test_push_without_huggingface_hub_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'drnet\[hub\]'"):
        push_to_hub(trained(*BACKBONE), "me/model")


def test_an_existing_model_card_is_kept(tmp_path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "README.md").write_text("my card\n")
    save_pretrained(trained(*BACKBONE), tmp_path / "m")
    assert (tmp_path / "m" / "README.md").read_text() == "my card\n"
    assert Path(tmp_path / "m" / "model.safetensors").is_file()
