"""Segmentation DataModules on fixtures in the real layouts: the batch contract, crops padded with
the ignore index around the unshifted source, full-size evaluation, predict, config schema."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser
from PIL import Image

from drnet.data import (
    CityscapesDataModule,
    DRNListDataModule,
    FolderSegmentationDataModule,
    SegmentationDataModule,
    SyntheticContextDataModule,
    VOCDataModule,
)
from drnet.models.preprocessing import Preprocessing
from tests.fixtures import datasets as fx
from tests.test_data_readers import CITYSCAPES_TRAIN_IDS, expected

CROP = (32, 48)  # larger than every fixture image: every training crop is padded


def _cityscapes(path: str) -> np.ndarray:
    split = re.search(r"leftImg8bit/(\w+)/", path)[1]
    k = int(re.search(r"_(\d{6})_\d{6}_leftImg8bit", path)[1])
    ids = expected(fx.SIZES[split][k], fx.cityscapes_mask_value, k)
    return np.vectorize(lambda i: CITYSCAPES_TRAIN_IDS.get(i, 255))(ids)


def _voc(path: str) -> np.ndarray:
    year, number = Path(path).stem.split("_")
    split, k = {"2007": "train", "2008": "val"}[year], int(number) - 100
    return expected(fx.SIZES[split][k], fx.voc_mask_value, k)


def _trainids(num_classes: int, split_and_k: str) -> Callable[[str], np.ndarray]:
    def mask(path: str) -> np.ndarray:
        split, k = re.search(split_and_k, path).groups()
        return expected(fx.SIZES[split][int(k)], fx.trainid_mask_value, int(k), num_classes)
    return mask


CASES = {  # DataModule, fixture, arguments, path -> expected source mask
    "cityscapes": (CityscapesDataModule, "cityscapes_root", {}, _cityscapes),
    "voc": (VOCDataModule, "voc_root", {}, _voc),
    "drn_lists": (DRNListDataModule, "drn_lists_root", {},
                  _trainids(19, r"images/(\w+?)_(\d+)\.png")),
    "folder": (FolderSegmentationDataModule, "folder_root",
               {"num_classes": fx.FOLDER_NUM_CLASSES},
               _trainids(fx.FOLDER_NUM_CLASSES, r"images/(\w+)/img_(\d+)\.")),
}


def make(case: str, request: pytest.FixtureRequest, **kwargs: object) -> SegmentationDataModule:
    cls, fixture, args, _ = CASES[case]
    return cls(str(request.getfixturevalue(fixture)), **args, **kwargs)


def normalised(path: str, mean: tuple, std: tuple) -> torch.Tensor:
    rgb = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1).copy())
    return (rgb.double() / 255 - torch.tensor(mean)[:, None, None]) / torch.tensor(
        std)[:, None, None]


@pytest.mark.parametrize("case", list(CASES))
def test_train_batches_are_padded_crops_of_aligned_pairs(case: str,
                                                         request: pytest.FixtureRequest) -> None:
    dm = make(case, request, batch_size=2, crop_size=CROP, scale_range=None, flip=False)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"image", "mask", "path"}
    assert (batch["image"].dtype, batch["image"].shape) == (torch.float32, (2, 3, *CROP))
    assert (batch["mask"].dtype, batch["mask"].shape) == (torch.int64, (2, *CROP))
    assert [type(p) for p in batch["path"]] == [str, str]
    pad = (-torch.tensor(dm.mean) / torch.tensor(dm.std)).double()
    for image, mask, path in zip(batch["image"], batch["mask"], batch["path"], strict=True):
        source = torch.from_numpy(CASES[case][3](path))
        height, width = source.shape
        placed = [(dy, dx) for dy in range(CROP[0] - height + 1)
                  for dx in range(CROP[1] - width + 1)
                  if torch.equal(mask[dy:dy + height, dx:dx + width], source)]
        assert placed, f"{path}: the source mask is not in the crop, unshifted"
        dy, dx = placed[0]
        outside = torch.ones(CROP, dtype=torch.bool)
        outside[dy:dy + height, dx:dx + width] = False
        assert bool((mask[outside] == 255).all()), "crop padding must be ignore_index"
        torch.testing.assert_close(image[:, outside].double(),
                                   pad[:, None].expand(3, int(outside.sum())))
        torch.testing.assert_close(image[:, dy:dy + height, dx:dx + width].double(),
                                   normalised(path, dm.mean, dm.std), atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", list(CASES))
def test_validation_and_test_use_full_images(case: str, request: pytest.FixtureRequest) -> None:
    dm = make(case, request)
    assert dm.val_batch_size == 1
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        batches = list(loader)
        assert len(batches) == len(fx.SIZES["val"])
        for batch in batches:
            path = batch["path"][0]
            source = torch.from_numpy(CASES[case][3](path))
            assert torch.equal(batch["mask"][0], source)
            torch.testing.assert_close(batch["image"][0].double(),
                                       normalised(path, dm.mean, dm.std), atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", list(CASES))
def test_class_table_is_ready_after_init(case: str, request: pytest.FixtureRequest) -> None:
    dm = make(case, request)
    assert dm.num_classes == {"cityscapes": 19, "voc": 21, "drn_lists": 19, "folder": 3}[case]
    assert len(dm.class_names) == len(dm.palette) == dm.num_classes
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in dm.palette)
    assert dm.ignore_index == 255
    assert len(dm.mean) == len(dm.std) == 3


def test_drn_lists_take_mean_std_from_info_json(drn_lists_root: Path) -> None:
    dm = DRNListDataModule(str(drn_lists_root))
    assert dm.mean == tuple(fx.DRN_INFO["mean"])
    assert dm.std == tuple(fx.DRN_INFO["std"])
    assert DRNListDataModule(str(drn_lists_root), mean=(0.5, 0.5, 0.5)).mean == (0.5, 0.5, 0.5)
    assert CityscapesDataModule("unused").mean == (0.485, 0.456, 0.406)  # ImageNet


def test_predict_reads_lists_folders_and_files(drn_lists_root: Path, folder_root: Path) -> None:
    dm = DRNListDataModule(str(drn_lists_root))  # default: the layout's test_images.txt
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert [tuple(b["image"].shape[-2:]) for b in batches] == fx.SIZES["test"]
    assert batches[0]["path"] == [str(drn_lists_root / "images" / "test_0.png")]
    assert "mask" not in batches[0]
    folder = FolderSegmentationDataModule(str(folder_root), num_classes=3,
                                          predict_path=str(folder_root / "images" / "val"))
    assert len(list(folder.predict_dataloader())) == 2
    with pytest.raises(ValueError, match="set predict_path"):
        FolderSegmentationDataModule(str(folder_root), num_classes=3).setup("predict")


def test_full_images_of_different_sizes_need_batch_size_one(folder_root: Path) -> None:
    dm = FolderSegmentationDataModule(str(folder_root), num_classes=3, val_batch_size=2)
    with pytest.raises(ValueError, match="use val_batch_size=1"):
        next(iter(dm.val_dataloader()))


def test_same_seed_same_order(folder_root: Path) -> None:
    def order(seed: int) -> list[str]:
        dm = FolderSegmentationDataModule(str(folder_root), num_classes=3, batch_size=1,
                                          crop_size=CROP, seed=seed)
        return [b["path"][0] for b in dm.train_dataloader()]
    assert order(5) == order(5)
    assert sorted(order(5)) == sorted(str(p) for p in (folder_root / "images/train").iterdir())


def test_synthetic_context_batches() -> None:
    dm = SyntheticContextDataModule(num_train=6, num_val=4, batch_size=3, val_batch_size=4)
    assert (dm.num_classes, len(dm.class_names), len(dm.palette)) == (5, 5, 5)
    assert dm.class_weights is not None
    assert len(dm.class_weights) == 5
    train = next(iter(dm.train_dataloader()))
    assert train["image"].shape == (3, 3, 128, 128)
    assert train["mask"].dtype == torch.int64
    val = next(iter(dm.val_dataloader()))
    assert val["mask"].shape == (4, 128, 128)
    assert val["path"][0] == "synthetic-context/val/seed0/000000.png"
    assert set(val["mask"].unique().tolist()) <= set(range(5))
    two = SyntheticContextDataModule(num_val=2, num_bands=2, val_batch_size=2)
    assert two.val_dataloader().dataset.num_bands == 2


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"num_classes": 3, "class_names": ["a"]}, ValueError, "1 names for 3 classes"),
    ({"num_classes": 3, "crop_size": 0}, ValueError, "crop_size"),
    ({"num_classes": 3, "batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"num_classes": 3, "scale_range": (2.0, 1.0)}, ValueError, "scale_range"),
    ({"num_classes": 3, "std": (0.2, 0.0, 0.2)}, ValueError, "std > 0"),
])
def test_bad_arguments_fail_at_construction(folder_root: Path, kwargs: dict, error: type,
                                            match: str) -> None:
    with pytest.raises(error, match=match):
        FolderSegmentationDataModule(str(folder_root), **kwargs)


class _FactsAfterSuper(SegmentationDataModule):
    """Calls ``super().__init__`` first, then sets what the base reads (the natural order)."""

    def __init__(self, class_names: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_mean, self.default_std = (0.1, 0.2, 0.3), (0.4, 0.5, 0.6)
        self.own_statistics = True
        self.use_class_table(2, class_names)
        self.augment = False

    def train_transforms(self) -> Callable[..., Any]:
        return super().train_transforms() if self.augment else self.eval_transforms()


def test_subclasses_set_their_facts_after_super_init() -> None:
    late = _FactsAfterSuper()
    assert (late.mean, late.std, late.statistics_source) == (
        (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), "data set")
    assert late.hparams["class_names"] == ["class_0", "class_1"]  # what Lightning logs
    given = _FactsAfterSuper(mean=(0.5, 0.5, 0.5))  # explicit beats the data set's own
    assert (given.mean, given.std, given.statistics_source) == (
        (0.5, 0.5, 0.5), (0.4, 0.5, 0.6), "argument")
    plain = CityscapesDataModule("unused")  # no own statistics: adopts the weights', says so
    assert plain.adopt_preprocessing(Preprocessing(late.mean, late.std), training=False)
    assert (plain.mean, plain.std, plain.statistics_source) == (late.mean, late.std, "default")


def test_init_is_a_config_schema(cityscapes_root: Path) -> None:
    parser = ArgumentParser()
    parser.add_class_arguments(CityscapesDataModule, "data")
    config = parser.parse_args([f"--data.root={cityscapes_root}", "--data.crop_size=[32, 48]",
                                "--data.scale_range=[0.75, 1.25]", "--data.rotate=5"])
    dm = parser.instantiate(config).data
    assert (dm.crop_size, dm.scale_range, dm.rotate, dm.batch_size) == (
        (32, 48), (0.75, 1.25), 5.0, 8)
    assert dm.hparams["root"] == str(cityscapes_root)  # the whole chain, for checkpoints
    assert dm.hparams["crop_size"] == (32, 48)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[-2:] == (32, 48)


def test_import_does_not_load_lightning() -> None:
    code = "import sys, drnet.data; assert 'lightning' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
