"""Detection data: the synthetic shapes set, COCO-format reading, transforms and DataModules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from drnet.data import (
    COCODetection,
    COCODetectionDataModule,
    ShapesDetectionDataset,
    SyntheticDetectionDataModule,
    detection_transforms,
)
from drnet.data.detection.samples import to_detection_sample
from drnet.data.detection.synthetic import BACKGROUND_GREY, NOISE
from tests.fixtures.coco import CATEGORIES, IMAGES


def test_shapes_are_deterministic_by_seed_split_and_index() -> None:
    a = ShapesDetectionDataset(4, seed=3, split="val")
    b = ShapesDetectionDataset(4, seed=3, split="val")
    for x, y in zip(a.generate(2), b.generate(2), strict=True):
        np.testing.assert_array_equal(x, y)
    other_seed = ShapesDetectionDataset(4, seed=4, split="val").generate(2)[1]
    other_split = ShapesDetectionDataset(4, seed=3, split="train").generate(2)[1]
    assert not np.array_equal(a.generate(2)[1], other_seed)
    assert not np.array_equal(a.generate(2)[1], other_split)


def test_shapes_boxes_are_tight_and_everything_else_is_background() -> None:
    data = ShapesDetectionDataset(8, image_size=96, object_size=(5, 40))
    for index in range(8):
        image, boxes, labels = data.generate(index)
        assert set(labels.tolist()) <= {1, 2, 3}
        # independent of the drawing code: shape pixels are those far from the background grey
        drawn = np.abs(image - BACKGROUND_GREY).max(axis=0) > NOISE + 1e-6
        covered = np.zeros_like(drawn)
        for x0, y0, x1, y1 in boxes.astype(int):
            inside = drawn[y0:y1, x0:x1]
            assert inside[0].any()
            assert inside[-1].any()
            assert inside[:, 0].any()
            assert inside[:, -1].any()
            assert 5 <= max(x1 - x0, y1 - y0) <= 40
            covered[y0:y1, x0:x1] = True
        assert not drawn[~covered].any()


def test_shapes_cover_coco_small_and_medium() -> None:
    data = ShapesDetectionDataset(64)
    areas = np.concatenate([(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
                            for b in (data.generate(i)[1] for i in range(64))])
    small = (areas < 32 ** 2).mean()
    assert 0.5 < small < 0.9  # mostly small, as the module docstring says
    assert (areas >= 96 ** 2).sum() == 0


def test_flip_moves_boxes_with_the_image_and_sanitize_drops_slivers() -> None:
    image = torch.zeros(3, 20, 30)
    image[:, 2:8, 4:10] = 1.0
    sample = to_detection_sample(image, torch.tensor([[4.0, 2.0, 10.0, 8.0],
                                                      [12.0, 3.0, 12.5, 9.0]]),
                                 torch.tensor([1, 2]), "x.png")
    flip = detection_transforms((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), flip=True)
    seen = set()
    for seed in range(8):
        torch.manual_seed(seed)
        out = flip(sample)
        boxes = out["target"]["boxes"]
        assert out["target"]["labels"].tolist() == [1]  # the 0.5 px sliver is dropped
        x0, y0, x1, y1 = boxes[0].int().tolist()
        assert out["image"][:, y0:y1, x0:x1].min() == 1.0
        seen.add(x0)
    assert seen == {4, 30 - 10}  # both outcomes of the coin occurred


def test_coco_reader_by_hand(coco_root: Path) -> None:
    data = COCODetection(coco_root, "train2017")
    assert data.category_ids == [1, 3, 18]  # label k is the k-th id: person 1, car 2, dog 3
    first, second, third = (data[i] for i in range(3))
    # person [4, 6, 10, 12] -> xyxy; dog at x 20.5; the crowd region is dropped
    torch.testing.assert_close(first["target"]["boxes"],
                               torch.tensor([[4.0, 6.0, 14.0, 18.0], [20.5, 10.0, 35.5, 30.0]]))
    assert first["target"]["labels"].tolist() == [1, 3]
    # the car reaching past the 52 px wide image is clipped; the zero-width box is dropped
    torch.testing.assert_close(second["target"]["boxes"], torch.tensor([[30.0, 20.0, 52.0, 30.0]]))
    assert second["target"]["labels"].tolist() == [2]
    assert third["target"]["boxes"].shape == (0, 4)  # background-only images are kept
    assert first["image"].shape == (3, *IMAGES["train2017"][0][1])
    assert first["image"].dtype == torch.uint8  # no transforms given
    assert first["path"].endswith("train2017/000000000009.jpg")
    val = COCODetection(coco_root, "val2017", category_ids=data.category_ids)  # images/val2017
    assert val[1]["target"]["labels"].tolist() == [1, 2]


def _broken_copy(coco_root: Path, tmp_path: Path, edit) -> Path:
    root = tmp_path / "coco"
    shutil.copytree(coco_root, root)
    path = root / "annotations" / "instances_val2017.json"
    document = json.loads(path.read_text())
    text = edit(document)
    path.write_text(text if isinstance(text, str) else json.dumps(document))
    return root


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: '{"images": [', "instances_val2017.json is not valid JSON"),
    (lambda d: d.pop("categories"), "instances_val2017.json needs a list 'categories'"),
    (lambda d: d["annotations"][0].pop("bbox"), r"annotations\[0\] lacks \['bbox'\]"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"must be \[x, y, width, height\]"),
    (lambda d: d["annotations"][0].update(image_id=7), "refers to image id 7"),
    (lambda d: d["annotations"][0].update(category_id=99), "category id 99"),
    (lambda d: d["images"][0].update(file_name="gone.jpg"), "1 of 2 files are missing"),
])
def test_coco_errors_name_the_file(coco_root: Path, tmp_path: Path, edit, message: str) -> None:
    root = _broken_copy(coco_root, tmp_path, edit)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        COCODetection(root, "val2017")


def test_coco_missing_files_and_unknown_categories(coco_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"instances_test2017\.json does not exist"):
        COCODetection(coco_root, "test2017")
    with pytest.raises(ValueError, match=r"categories \[18\] that the training split"):
        COCODetection(coco_root, "val2017", category_ids=[1, 3])
    (tmp_path / "annotations").mkdir()
    shutil.copy(coco_root / "annotations" / "instances_val2017.json", tmp_path / "annotations")
    with pytest.raises(FileNotFoundError, match=r"neither .*images/val2017 nor .*val2017"):
        COCODetection(tmp_path, "val2017")


def test_coco_datamodule_batches(coco_root: Path) -> None:
    dm = COCODetectionDataModule(str(coco_root), batch_size=2)
    assert dm.num_classes == 4
    assert dm.class_names == ["background", *(c["name"] for c in CATEGORIES)]
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"image", "target", "path"}
    assert len(batch["image"]) == len(batch["target"]) == len(batch["path"]) == 2
    image, target = batch["image"][0], batch["target"][0]
    assert image.dtype == torch.float32
    assert image.min() >= 0
    assert image.max() <= 1
    assert target["boxes"].dtype == torch.float32
    assert target["labels"].dtype == torch.int64
    val = next(iter(dm.val_dataloader()))
    assert [tuple(i.shape[1:]) for i in val["image"]] == [s for _, s, _ in IMAGES["val2017"]]


def test_synthetic_datamodule() -> None:
    dm = SyntheticDetectionDataModule(num_train=4, num_val=2, image_size=64,
                                      object_size=(4, 24), batch_size=2)
    assert dm.num_classes == 4
    assert dm.class_names[0] == "background"
    batch = next(iter(dm.val_dataloader()))
    assert [tuple(i.shape) for i in batch["image"]] == [(3, 64, 64)] * 2
    with pytest.raises(ValueError, match="object_size"):
        SyntheticDetectionDataModule(image_size=64, object_size=(4, 80))
