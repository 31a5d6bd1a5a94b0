"""Classification DataModules (ImageFolder, CIFAR-10 pickles, synthetic) and PredictImages on
fixtures in the real layouts."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drnet.data import (
    CIFAR10DataModule,
    ImageFolderDataModule,
    PredictImages,
    SyntheticClassificationDataModule,
)
from tests.fixtures import datasets as fx


def test_cifar10_fixture_is_in_the_published_format(cifar10_root: Path) -> None:
    folder = cifar10_root / "cifar-10-batches-py"
    with (folder / "data_batch_1").open("rb") as f:
        batch = pickle.load(f, encoding="bytes")  # as the CIFAR-10 page reads it
    assert batch[b"data"].dtype == np.uint8
    assert batch[b"data"].shape == (fx.CIFAR10_PER_BATCH, 3072)
    assert batch[b"labels"] == [0, 1]
    with (folder / "batches.meta").open("rb") as f:
        assert pickle.load(f, encoding="bytes")[b"label_names"][0] == b"airplane"


def test_cifar10_batches_decode_pixels_and_labels(cifar10_root: Path) -> None:
    dm = CIFAR10DataModule(str(cifar10_root), batch_size=4)
    assert (dm.num_classes, dm.class_names[9]) == (10, "truck")
    batch = next(iter(dm.val_dataloader()))  # test_batch is the 6th file: labels (5 + k) % 10
    assert set(batch) == {"image", "target"}
    assert batch["target"].dtype == torch.int64
    assert batch["target"].tolist() == [5, 6, 7, 8]
    pixels = (batch["image"].double() * torch.tensor(dm.std).double()[:, None, None]
              + torch.tensor(dm.mean).double()[:, None, None]) * 255
    y, x = np.mgrid[:32, :32]
    for k in range(4):
        for c in range(3):
            want = np.broadcast_to(fx.cifar10_pixel(k, c, y, x), (32, 32)).astype(np.float64)
            np.testing.assert_allclose(pixels[k, c].numpy(), want, atol=1e-3)
    train = next(iter(dm.train_dataloader()))
    assert train["image"].shape == (4, 3, 32, 32)
    assert len(dm.datasets["train"]) == 5 * fx.CIFAR10_PER_BATCH


def test_cifar10_missing_batch_is_named(tmp_path: Path) -> None:
    root = fx.make_cifar10(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3 missing"):
        CIFAR10DataModule(str(root)).setup("fit")


def test_imagefolder_batches(imagefolder_root: Path) -> None:
    dm = ImageFolderDataModule(str(imagefolder_root), image_size=16, resize_size=20,
                               batch_size=2)
    assert dm.class_names == list(fx.IMAGEFOLDER_CLASSES)
    assert dm.num_classes == 3
    assert dm.mean == (0.485, 0.456, 0.406)
    train = next(iter(dm.train_dataloader()))
    assert (train["image"].dtype, train["image"].shape) == (torch.float32, (2, 3, 16, 16))
    val = list(dm.val_dataloader())
    assert torch.cat([b["target"] for b in val]).tolist() == [0, 1, 2]
    assert val[0]["image"].shape == (2, 3, 16, 16)


def test_imagefolder_split_with_other_classes_is_refused(tmp_path: Path) -> None:
    root = fx.make_imagefolder(tmp_path)
    shutil.rmtree(root / "val" / "dog")
    with pytest.raises(ValueError, match=r"\['dog'\].*same class folders"):
        ImageFolderDataModule(str(root)).setup("validate")
    with pytest.raises(FileNotFoundError, match="ImageFolder train split"):
        ImageFolderDataModule(str(tmp_path / "missing"))


def test_synthetic_classification_batches() -> None:
    dm = SyntheticClassificationDataModule(num_classes=3, num_train=12, batch_size=6)
    assert (dm.num_classes, len(dm.class_names)) == (3, 3)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (6, 3, 32, 32)
    assert sorted(torch.cat([b["target"] for b in dm.val_dataloader()]).tolist()) == sorted(
        [k % 3 for k in range(64)])


def test_predict_images_from_file_folder_and_list(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    for name, size in (("b.png", (9, 7)), ("a.jpg", (5, 11))):
        Image.new("RGB", size, (255, 0, 0)).save(tmp_path / "pics" / name)
    (tmp_path / "pics" / "notes.md").write_text("not an image")
    folder = PredictImages(tmp_path / "pics", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert [Path(p).name for p in folder.images] == ["a.jpg", "b.png"]
    sample = folder[1]
    assert sample["image"].shape == (3, 7, 9)  # original size, (H, W)
    assert sample["path"] == str(tmp_path / "pics" / "b.png")
    torch.testing.assert_close(sample["image"][:, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    (tmp_path / "list.txt").write_text("pics/b.png\n\npics/a.jpg\n")
    assert [Path(p).name for p in PredictImages(tmp_path / "list.txt").images] == [
        "b.png", "a.jpg"]
    assert len(PredictImages(tmp_path / "pics" / "a.jpg")) == 1


def test_predict_images_bad_sources(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("gone.png\n")
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        PredictImages(tmp_path / "list.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PredictImages(tmp_path / "nothing.png")
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ValueError, match="neither an image"):
        PredictImages(tmp_path / "notes.md")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        PredictImages(tmp_path / "empty")
