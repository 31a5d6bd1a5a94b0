"""Preprocessing travels with the weights: records, files, checkpoints, models and data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms as T

import drnet
from drnet.data.preprocessing import PreprocessingMismatchError, reconcile
from drnet.models.preprocessing import Preprocessing
from drnet.models.pretrained import list_pretrained
from tests.official_drn_layout import official_state_dict, to_drnseg_layout

OFFICIAL_CITYSCAPES = ([0.29010095242892997, 0.32808144844279574, 0.28696394422942517],
                       [0.1829540508368939, 0.18656561047509476, 0.18447508988480435])
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_transforms_are_bit_identical_to_totensor_and_normalize() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    reference = T.Compose([T.ToTensor(), T.Normalize(*OFFICIAL_CITYSCAPES)])(image)
    ours = Preprocessing(*OFFICIAL_CITYSCAPES).transforms()(image)
    assert torch.equal(ours.as_subclass(torch.Tensor), reference)
    # and normalize() is the same arithmetic on a [0, 1] tensor
    assert torch.equal(Preprocessing(*OFFICIAL_CITYSCAPES).normalize(T.ToTensor()(image)),
                       reference)


def test_records_carry_the_normalisation_and_classes_of_their_weights() -> None:
    city = next(w for w in list_pretrained("drnseg_d_105") if w.tag == "cityscapes")
    prep = city.preprocessing
    assert list(prep.mean) == OFFICIAL_CITYSCAPES[0]
    assert list(prep.std) == OFFICIAL_CITYSCAPES[1]
    assert prep.class_names[:3] == ("road", "sidewalk", "building")
    assert len(prep.class_names) == len(prep.palette) == 19
    assert prep.palette[0] == (128, 64, 128)  # cityscapesScripts' colour of "road"
    resnet = list_pretrained("resnet50")[0].preprocessing
    assert (resnet.mean, resnet.std) == IMAGENET
    assert resnet.class_names[0] == "tench"
    assert len(resnet.class_names) == 1000


def test_a_file_named_like_an_official_one_gets_its_preprocessing(tmp_path: Path) -> None:
    state = to_drnseg_layout(official_state_dict("drn_d_22"), "drn_d_22", num_classes=19)
    torch.save(state, tmp_path / "drn_d_22_cityscapes.pth")
    torch.save(state, tmp_path / "renamed.pth")
    named = drnet.create_model("drnseg_d_22", pretrained=tmp_path / "drn_d_22_cityscapes.pth")
    assert list(named.preprocessing.mean) == OFFICIAL_CITYSCAPES[0]
    assert "drn_d_22_cityscapes.pth" in named.preprocessing.source
    renamed = drnet.create_model("drnseg_d_22", pretrained=tmp_path / "renamed.pth")
    assert renamed.preprocessing is None  # the file does not say: drnet does not guess
    assert drnet.create_model("drnseg_d_22").preprocessing is None


def test_checkpoints_and_safetensors_record_preprocessing(tmp_path: Path) -> None:
    model = drnet.create_model("drnseg_d_tiny", num_classes=3)
    prep = Preprocessing((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), ("a", "b", "c"),
                         ((1, 2, 3), (4, 5, 6), (7, 8, 9)), "my run")
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "preprocessing": prep.to_dict()}, tmp_path / "run.ckpt")
    assert drnet.create_model("drnseg_d_tiny", pretrained=tmp_path / "run.ckpt").preprocessing \
        == prep
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"),
              metadata={"preprocessing": prep.to_json()})
    loaded = drnet.create_model("drnseg_d_tiny", pretrained=tmp_path / "w.safetensors")
    assert loaded.preprocessing == prep
    # drnet weights convert keeps it
    from drnet.models.convert import to_safetensors

    converted = drnet.create_model("drnseg_d_tiny",
                                   pretrained=to_safetensors(tmp_path / "run.ckpt"))
    assert converted.preprocessing == prep


def test_a_backbone_checkpoint_gives_a_segmentation_model_its_statistics(tmp_path) -> None:
    backbone = drnet.create_model("drn_d_22", num_classes=0)
    torch.save(backbone.state_dict(), tmp_path / "drn_d_22-4bd2f8ea.pth")  # the official name
    seg = drnet.create_model("drnseg_d_22", num_classes=4,
                             pretrained_backbone=str(tmp_path / "drn_d_22-4bd2f8ea.pth"))
    assert (seg.preprocessing.mean, seg.preprocessing.std) == IMAGENET
    assert seg.preprocessing.class_names is None  # ImageNet's classes are not the model's


def test_full_model_weights_supersede_the_backbone_weights(tmp_path: Path) -> None:
    state = to_drnseg_layout(official_state_dict("drn_d_22"), "drn_d_22", num_classes=19)
    torch.save(state, tmp_path / "drn_d_22_cityscapes.pth")
    # The backbone file does not exist: it must not even be looked for.
    seg = drnet.create_model("drnseg_d_22", pretrained=tmp_path / "drn_d_22_cityscapes.pth",
                             pretrained_backbone=str(tmp_path / "missing.pth"))
    torch.testing.assert_close(seg.backbone.layer0[0].weight, state["base.0.0.weight"])


def _data(mean, std, source, names=None, generic=False):
    return SimpleNamespace(mean=tuple(mean), std=tuple(std), statistics_source=source,
                           class_names=names or ["x", "y"], palette=[(0, 0, 0), (1, 1, 1)],
                           generic_class_table=generic)


WEIGHTS = Preprocessing(*OFFICIAL_CITYSCAPES, ("road", "car"), ((9, 9, 9), (8, 8, 8)), "W")


def test_reconcile_adopts_the_weights_statistics_when_the_data_has_none() -> None:
    data = _data(*IMAGENET, "default", generic=True)
    said = reconcile(data, WEIGHTS, training=False)
    assert list(data.mean) == OFFICIAL_CITYSCAPES[0]
    assert data.class_names == ["road", "car"]
    assert data.palette == [(9, 9, 9), (8, 8, 8)]
    assert "W" in said


def test_reconcile_never_resolves_a_conflict_silently() -> None:
    own = _data((0.5,) * 3, (0.25,) * 3, "data set")
    with pytest.raises(PreprocessingMismatchError, match=r"--data.mean"):
        reconcile(own, WEIGHTS, training=False)
    with pytest.warns(UserWarning, match="fine-tuning"):
        reconcile(own, WEIGHTS, training=True)
    assert own.mean == (0.5,) * 3  # the data set's own, as the official recipe fine-tunes
    explicit = _data((0.5,) * 3, (0.25,) * 3, "argument")
    with pytest.warns(UserWarning, match="given"):
        reconcile(explicit, WEIGHTS, training=False)
    assert explicit.mean == (0.5,) * 3
    named = _data(*OFFICIAL_CITYSCAPES, "data set", names=["car", "road"])
    with pytest.warns(UserWarning, match="class names"):
        reconcile(named, WEIGHTS, training=False)
    same = _data(*OFFICIAL_CITYSCAPES, "data set", names=["road", "car"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reconcile(same, WEIGHTS, training=False) is None


def test_export_writes_the_normalisation_into_the_file(tmp_path: Path) -> None:
    import onnx

    from drnet.fast.export import export_model

    model = drnet.create_model("drnseg_d_tiny", num_classes=3).eval()
    model.preprocessing = Preprocessing((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), ("a", "b", "c"),
                                        source="test")
    export_model(model, tmp_path / "m.onnx", "onnx", input_size=(32, 32))
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["drnet.mean"]) == [0.1, 0.2, 0.3]
    assert json.loads(props["drnet.std"]) == [0.4, 0.5, 0.6]
    assert json.loads(props["drnet.preprocessing"])["class_names"] == ["a", "b", "c"]
    export_model(model, tmp_path / "m.pt2", "exported-program", input_size=(32, 32))
    extra = {"preprocessing.json": ""}
    torch.export.load(str(tmp_path / "m.pt2"), extra_files=extra)
    assert json.loads(extra["preprocessing.json"])["mean"] == [0.1, 0.2, 0.3]
    export_model(model, tmp_path / "m.pt", "torchscript", input_size=(32, 32))
    extra = {"preprocessing.json": ""}
    torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert json.loads(extra["preprocessing.json"])["std"] == [0.4, 0.5, 0.6]
