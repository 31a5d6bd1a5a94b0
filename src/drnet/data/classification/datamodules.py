"""Classification DataModules: ImageFolder (ImageNet layout), CIFAR-10 pickles and a synthetic
set. Batches are dicts ``{"image": float (N, 3, H, W) normalised, "target": int64 (N,)}``;
predict yields ``{"image", "path"}`` at the images' own size (drnet classifiers pool globally).
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from torch.utils.data import Dataset
from torchvision.transforms import v2

from drnet.data.classification import synthetic as grating
from drnet.data.classification.readers import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    cifar10_dataset,
    imagefolder_classes,
    imagefolder_dataset,
)
from drnet.data.datamodule_base import DataModuleBase, Stats
from drnet.data.transforms import (
    classification_eval_transforms,
    classification_train_transforms,
)


class ClassificationDataModule(DataModuleBase):
    """Base class: subclasses set ``num_classes`` and ``class_names`` after calling
    ``super().__init__``, implement :meth:`read_split` and :meth:`transforms_for` and name
    their splits in ``split_names``. ``val_batch_size`` defaults to ``batch_size`` (the
    evaluation images have one size).

    Args:
        val_batch_size: Validation and test images per batch and process; null: batch_size.
    """

    num_classes: int
    class_names: list[str]

    def __init__(self, *, batch_size: int = 64, val_batch_size: int | None = None,
                 num_workers: int = 0, mean: Stats | None = None, std: Stats | None = None,
                 seed: int = 0, predict_path: str | None = None,
                 skip_bad_samples: bool = False, max_bad_fraction: float = 0.05) -> None:
        if val_batch_size is None:
            val_batch_size = batch_size
        super().__init__(batch_size=batch_size, val_batch_size=val_batch_size,
                         num_workers=num_workers, mean=mean, std=std, seed=seed,
                         predict_path=predict_path, skip_bad_samples=skip_bad_samples,
                         max_bad_fraction=max_bad_fraction)


class ImageFolderDataModule(ClassificationDataModule):
    """ImageNet layout ``root/{train,val}/<class>/<image>``.

    Random-resized crops of ``image_size`` for training; resize to ``resize_size`` and centre
    crop for val and test (test reads ``test_split``, ``val`` by default).

    Args:
        root: Folder holding one sub-folder per split, each with one folder per class.
        image_size: Side of the square training crop and evaluation centre crop, in pixels.
        resize_size: Shorter side, in pixels, that evaluation images are resized to before
            the centre crop.
        train_split: Sub-folder to train on (its class folders fix the classes).
        val_split: Sub-folder to validate on.
        test_split: Sub-folder to test on.
    """

    def __init__(self, root: str, *, image_size: int = 224, resize_size: int = 256,
                 train_split: str = "train", val_split: str = "val", test_split: str = "val",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.image_size, self.resize_size = root, image_size, resize_size
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        self.class_names = imagefolder_classes(root, train_split)
        self.num_classes = len(self.class_names)

    def transforms_for(self, role: str) -> Callable[..., Any]:
        if role == "train":
            return classification_train_transforms(self.image_size, self.mean, self.std)
        return classification_eval_transforms(self.image_size, self.mean, self.std,
                                              resize_size=self.resize_size)

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return imagefolder_dataset(self.root, split, self.class_names, transforms)


class CIFAR10DataModule(ClassificationDataModule):
    """CIFAR-10 python pickles under ``root/cifar-10-batches-py`` (never downloaded).

    Training on ``data_batch_1..5`` with pad-4 random crops and flips; validation and test on
    ``test_batch``, as in the ResNet paper's CIFAR experiments.

    Args:
        root: Folder holding cifar-10-batches-py/ (the python version's pickles).
        batch_size: Training images per batch and process.
    """

    num_classes = len(CIFAR10_CLASSES)
    class_names = CIFAR10_CLASSES
    default_mean, default_std = CIFAR10_MEAN, CIFAR10_STD
    own_statistics = True
    split_names = MappingProxyType({"train": "train", "val": "test", "test": "test"})

    def __init__(self, root: str, *, batch_size: int = 128, **kwargs: Any) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root = root

    def transforms_for(self, role: str) -> Callable[..., Any]:
        if role == "train":
            return classification_train_transforms(32, self.mean, self.std, padding=4)
        return classification_eval_transforms(32, self.mean, self.std)

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return cifar10_dataset(self.root, split == "train", transforms)


class SyntheticClassificationDataModule(ClassificationDataModule):
    """Oriented gratings (:mod:`drnet.data.classification.synthetic`), generated on the fly.

    Deterministic by ``seed``: a classification pipeline with no files, for tests and defaults
    (``predict_path`` predicts on your own images).

    Args:
        num_classes: Grating orientations to tell apart (the classes).
        image_size: Side of the square images in pixels.
        num_train: Training images (one pass over them is an epoch).
        num_val: Validation images.
        num_test: Test images.
        batch_size: Images per batch and process (validation and test too).
        num_workers: DataLoader worker processes per process (0: generate in the main process).
        seed: Seed of the generated images (each split its own stream) and of the order.
        predict_path: What predict reads: an image, a folder of images or a .txt list of paths.
    """

    default_mean, default_std = grating.MEAN, grating.STD
    own_statistics = True
    split_names = MappingProxyType({"train": "train", "val": "val", "test": "test"})

    def __init__(self, *, num_classes: int = 4, image_size: int = 32, num_train: int = 256,
                 num_val: int = 64, num_test: int = 64, batch_size: int = 32,
                 num_workers: int = 0, seed: int = 0, predict_path: str | None = None) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed,
                         predict_path=predict_path)
        self.num_classes, self.image_size = num_classes, image_size
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.class_names = grating.GratingClassification(1, num_classes, image_size).class_names

    def transforms_for(self, role: str) -> Callable[..., Any]:
        return v2.Normalize(list(self.mean), list(self.std))

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return grating.GratingClassification(
            self.sizes[split], self.num_classes, self.image_size, self.seed, split,
            transform=transforms)
