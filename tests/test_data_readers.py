"""Segmentation readers on fixtures in the real layouts: correct pairs, label decoding checked
against hand-written tables and the fixtures' mask patterns, and clear errors on bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drnet.data import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    VOC_PALETTE,
    cityscapes_dataset,
    drn_list_dataset,
    folder_dataset,
    read_info,
    voc_dataset,
)
from drnet.data.segmentation.voc import voc_colormap
from tests.fixtures import datasets as fx

# cityscapesScripts labels.py, written out: labelId -> trainId; every other id is ignored.
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                        23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def expected(size: tuple[int, int], value: Callable[..., int], *args: int) -> np.ndarray:
    height, width = size
    return np.array([[value(y, x, *args) for x in range(width)] for y in range(height)])


def rgb(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)


def test_cityscapes_maps_label_ids_to_train_ids(cityscapes_root: Path) -> None:
    for split in ("train", "val"):
        ds = cityscapes_dataset(cityscapes_root, split)
        assert len(ds) == len(fx.SIZES[split])
        assert [str(p) for p in ds.images] == sorted(str(p) for p in ds.images)
        for sample in ds:
            k = int(re.search(r"_(\d{6})_\d{6}_leftImg8bit", sample["path"])[1])
            label_ids = expected(fx.SIZES[split][k], fx.cityscapes_mask_value, k)
            train_ids = np.vectorize(lambda i: CITYSCAPES_TRAIN_IDS.get(i, 255))(label_ids)
            np.testing.assert_array_equal(sample["mask"].numpy(), train_ids)
            np.testing.assert_array_equal(sample["image"].numpy(), rgb(sample["path"]))


def test_cityscapes_custom_ignore_index_and_class_table(cityscapes_root: Path) -> None:
    mask = cityscapes_dataset(cityscapes_root, "val", ignore_index=250)[0]["mask"]
    assert set(mask.unique().tolist()) == {*CITYSCAPES_TRAIN_IDS.values(), 250}
    assert len(CITYSCAPES_CLASSES) == len(CITYSCAPES_PALETTE) == 19
    assert (CITYSCAPES_CLASSES[0], CITYSCAPES_PALETTE[0]) == ("road", (128, 64, 128))
    assert (CITYSCAPES_CLASSES[10], CITYSCAPES_PALETTE[10]) == ("sky", (70, 130, 180))
    assert (CITYSCAPES_CLASSES[18], CITYSCAPES_PALETTE[18]) == ("bicycle", (119, 11, 32))


def test_cityscapes_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Cityscapes root"):
        cityscapes_dataset(tmp_path / "nowhere")
    root = fx.make_cityscapes(tmp_path, splits=("train",))
    with pytest.raises(FileNotFoundError, match=r"Cityscapes val images: folder .*leftImg8bit"):
        cityscapes_dataset(root, "val")
    with pytest.raises(ValueError, match="split must be one of"):
        cityscapes_dataset(root, "training")
    label = next((root / "gtFine" / "train").rglob("*_labelIds.png"))
    label.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(label.name)):
        cityscapes_dataset(root, "train")


def test_voc_reads_palette_indices_not_colours(voc_root: Path) -> None:
    for split in ("train", "val"):
        ds = voc_dataset(voc_root, split)
        assert len(ds) == len(fx.SIZES[split])
        for sample in ds:
            k = int(Path(sample["path"]).stem.split("_")[1]) - 100
            mask = expected(fx.SIZES[split][k], fx.voc_mask_value, k)
            np.testing.assert_array_equal(sample["mask"].numpy(), mask)
            assert sample["image"].shape == (3, *fx.SIZES[split][k])
    assert len(voc_dataset(voc_root, "trainval")) == 5


def test_voc_palette_is_the_devkit_colormap() -> None:
    assert VOC_PALETTE == fx.VOC_COLOURS
    assert voc_colormap(256)[255] == fx.VOC_VOID_COLOUR


def test_voc_list_naming_a_missing_image(tmp_path: Path) -> None:
    root = fx.make_voc(tmp_path)
    with (root / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").open("a") as f:
        f.write("2099_000001\n")
    with pytest.raises(FileNotFoundError, match=r"1 of 3 files are missing.*2099_000001\.jpg"):
        voc_dataset(root, "val")
    with pytest.raises(FileNotFoundError, match=r"expected root/VOCdevkit/VOC2012"):
        voc_dataset(root / "VOCdevkit")


def test_drn_lists_pairs_labels_and_reads_info(drn_lists_root: Path) -> None:
    assert read_info(drn_lists_root) == (tuple(fx.DRN_INFO["mean"]), tuple(fx.DRN_INFO["std"]))
    for split in ("train", "val"):
        for sample in drn_list_dataset(drn_lists_root, split, num_classes=19):
            k = int(Path(sample["path"]).stem.split("_")[1])
            mask = expected(fx.SIZES[split][k], fx.trainid_mask_value, k, 19)
            np.testing.assert_array_equal(sample["mask"].numpy(), mask)
            np.testing.assert_array_equal(sample["image"].numpy(), rgb(sample["path"]))
    test = drn_list_dataset(drn_lists_root, "test", num_classes=19)
    assert len(test) == 2
    assert "mask" not in test[0]


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"mean": [0.3, 0.3, 0.3]}), "'std' must be a list of 3 numbers"),
    (json.dumps({"mean": [0.3, 0.3], "std": [0.2] * 3}), "'mean' must be a list of 3"),
    (json.dumps({"mean": [77, 80, 70], "std": [0.2] * 3}), r"in \[0, 1\]"),
    (json.dumps({"mean": [0.3] * 3, "std": [0.2, 0, 0.2]}), r"\(> 0\)"),
])
def test_malformed_info_json(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "info.json").write_text(content)
    with pytest.raises(ValueError, match=match):
        read_info(tmp_path)


def test_drn_lists_bad_input(tmp_path: Path) -> None:
    root = fx.make_drn_lists(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"info\.json does not exist"):
        read_info(tmp_path / "images")
    (root / "val_labels.txt").write_text("labels/val_0_trainIds.png\n")
    with pytest.raises(ValueError, match=r"val_labels\.txt has 1 lines but val_images\.txt has 2"):
        drn_list_dataset(root, "val", num_classes=19)
    (root / "train_images.txt").write_text("images/train_0.png\nimages/gone.png\n")
    (root / "train_labels.txt").write_text("labels/train_0_trainIds.png\n" * 2)
    with pytest.raises(FileNotFoundError, match=r"images/gone\.png"):
        drn_list_dataset(root, "train", num_classes=19)
    with pytest.raises(FileNotFoundError, match=r"list file .*nope_images\.txt"):
        drn_list_dataset(root, "nope", num_classes=19)


def test_mask_checks_size_mode_and_values(tmp_path: Path) -> None:
    root = fx.make_drn_lists(tmp_path)
    label = root / "labels" / "val_0_trainIds.png"  # image 0 is 40x24 (WxH)
    Image.new("L", (10, 7)).save(label)
    ds = drn_list_dataset(root, "val", num_classes=19)
    with pytest.raises(ValueError, match=r"val_0_trainIds.png is 10x7 but its image .* is 40x24"):
        ds[0]
    Image.new("RGB", (40, 24)).save(label)
    with pytest.raises(ValueError, match=r"single-channel .* got mode RGB"):
        ds[0]
    Image.fromarray(np.full((24, 40), 19, np.uint8), "L").save(label)
    with pytest.raises(ValueError, match=r"neither a class nor the ignore value: \[19\]"):
        ds[0]


def test_folder_pairs_by_stem(folder_root: Path, tmp_path: Path) -> None:
    for split in ("train", "val"):
        ds = folder_dataset(folder_root, split, num_classes=fx.FOLDER_NUM_CLASSES)
        assert [p.stem for p in ds.images] == [p.stem for p in ds.masks]
        assert {p.suffix for p in ds.images} == {".png", ".jpg"} or split == "val"
        for sample in ds:
            k = int(Path(sample["path"]).stem.split("_")[1])
            mask = expected(fx.SIZES[split][k], fx.trainid_mask_value, k, fx.FOLDER_NUM_CLASSES)
            np.testing.assert_array_equal(sample["mask"].numpy(), mask)
    flat = fx.make_folder(tmp_path / "flat", split_folders=False)
    assert len(folder_dataset(flat, None, num_classes=fx.FOLDER_NUM_CLASSES)) == 3


def test_folder_bad_input(tmp_path: Path) -> None:
    root = fx.make_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"segmentation folder images: folder .*test"):
        folder_dataset(root, "test", num_classes=3)
    (root / "masks" / "val" / "img_1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 images .* no mask .*\['img_1'\]"):
        folder_dataset(root, "val", num_classes=3)
    Image.new("RGB", (5, 5)).save(root / "images" / "train" / "img_0.jpg")  # beside img_0.png
    with pytest.raises(ValueError, match="two files share the stem 'img_0'"):
        folder_dataset(root, "train", num_classes=3)
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "masks").mkdir()
    with pytest.raises(ValueError, match="empty split"):
        folder_dataset(empty, None, num_classes=3)
