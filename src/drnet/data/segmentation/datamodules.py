"""Segmentation DataModules (import Lightning): the base class and one per layout (design.md §6),
plus the synthetic context set.

Batches are dicts ``{"image": float (N, 3, H, W) normalised, "mask": int64 (N, H, W),
"path": list[str]}``. Training draws random crops of ``crop_size`` (padded with 0 / ignore_index);
validation and test use full images, unscaled and uncropped, so mIoU is measured as papers do;
predict yields ``{"image", "path"}`` for ``predict_path`` (an image, a folder or a .txt list).

Each ``__init__`` is a config schema: the layout's own arguments, then (``**kwargs``) those of
:class:`SegmentationDataModule` (batch sizes, workers, crop, scale, rotation, flip, ignore index,
mean/std, seed, predict path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from drnet.data.datamodule_base import DataModuleBase, Stats
from drnet.data.segmentation import synthetic
from drnet.data.segmentation.cityscapes import cityscapes_dataset
from drnet.data.segmentation.drn_lists import drn_list_dataset, read_info
from drnet.data.segmentation.files import collate_segmentation
from drnet.data.segmentation.folder import folder_dataset
from drnet.data.segmentation.voc import VOC_CLASSES, VOC_PALETTE, voc_colormap, voc_dataset
from drnet.data.transforms import segmentation_eval_transforms, segmentation_train_transforms
from drnet.errors import DrnetValueError
from drnet.models.preprocessing import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE


class SegmentationDataModule(DataModuleBase):
    """Base class: subclasses set the class table (``num_classes``, ``class_names``, ``palette``;
    from arguments with :meth:`use_class_table`) after calling ``super().__init__`` and implement
    :meth:`~drnet.data.datamodule_base.DataModuleBase.read_split`; ``split_names`` maps the
    roles to the layout's splits.

    Everything a CLI links into the model (``num_classes``, ``ignore_index``, ``mean``, ``std``,
    ``class_weights`` — ``None`` unless the set suggests loss weights) is set by ``__init__``.

    Args:
        val_batch_size: Validation and test images per batch and process (images of different
            sizes need 1).
        crop_size: Training crop in pixels: one size for a square, or (height, width).
        scale_range: Random rescaling of training images before the crop, (min, max) factors;
            null: no rescaling.
        rotate: Largest random rotation of training images, in degrees (0: none).
        flip: Mirror training images horizontally at random.
        ignore_index: Mask value of pixels without a label (padding of crops uses it too).
    """

    num_classes: int
    class_names: list[str]
    palette: list[tuple[int, int, int]]
    class_weights: tuple[float, ...] | None = None
    collate_fn = staticmethod(collate_segmentation)

    def __init__(
        self,
        *,
        batch_size: int = 8,
        val_batch_size: int = 1,
        num_workers: int = 0,
        crop_size: int | tuple[int, int] = 512,
        scale_range: tuple[float, float] | None = (0.5, 2.0),
        rotate: float = 0.0,
        flip: bool = True,
        ignore_index: int = 255,
        mean: Stats | None = None,
        std: Stats | None = None,
        seed: int = 0,
        predict_path: str | None = None,
        skip_bad_samples: bool = False,
        max_bad_fraction: float = 0.05,
    ) -> None:
        super().__init__(batch_size=batch_size, val_batch_size=val_batch_size,
                         num_workers=num_workers, mean=mean, std=std, seed=seed,
                         predict_path=predict_path, skip_bad_samples=skip_bad_samples,
                         max_bad_fraction=max_bad_fraction)
        self.crop_size, self.scale_range, self.rotate, self.flip = (
            crop_size, scale_range, rotate, flip)
        self.ignore_index = ignore_index
        # A bad crop/scale/rotate fails here, not at the first batch. The function, not the
        # method: an override may read what its subclass sets after this call.
        segmentation_train_transforms(crop_size, scale_range, rotate, flip,
                                      ignore_index=ignore_index)

    def use_class_table(self, num_classes: int, class_names: list[str] | None) -> None:
        """The class table of a layout's ``num_classes``/``class_names`` arguments: the given
        names (checked) or generic ``class_<i>`` (which pretrained weights may name, see
        :mod:`drnet.data.preprocessing`), VOC colours. Generic names replace the argument's
        ``None`` in ``hparams``: Lightning checks them against the task's (linked by the CLI)
        when it merges hyperparameters for the loggers."""
        if class_names is not None and len(class_names) != num_classes:
            raise DrnetValueError(f"class_names has {len(class_names)} names for {num_classes} "
                                  "classes")
        self.num_classes, self.palette = num_classes, voc_colormap(num_classes)
        self.class_names = (list(class_names) if class_names is not None
                            else [f"class_{i}" for i in range(num_classes)])
        self.generic_class_table = class_names is None
        if self.hparams.get("class_names", ...) is None:
            self.save_hyperparameters({"class_names": list(self.class_names)})

    def train_transforms(self) -> Callable[..., Any]:
        return segmentation_train_transforms(self.crop_size, self.scale_range, self.rotate,
                                             self.flip, self.mean, self.std, self.ignore_index)

    def eval_transforms(self) -> Callable[..., Any]:
        return segmentation_eval_transforms(self.mean, self.std)

    def transforms_for(self, role: str) -> Callable[..., Any]:
        return self.train_transforms() if role == "train" else self.eval_transforms()


class CityscapesDataModule(SegmentationDataModule):
    """Cityscapes fine annotations, 19 train ids (``leftImg8bit/``, ``gtFine/``).

    Validates and tests on ``val`` (the public ``test`` labels are blank).

    Args:
        root: Folder holding leftImg8bit/ and gtFine/.
        crop_size: Training crop in pixels: one size for a square, or (height, width).
    """

    num_classes = len(CITYSCAPES_CLASSES)
    class_names = CITYSCAPES_CLASSES
    palette = CITYSCAPES_PALETTE

    def __init__(self, root: str, *, crop_size: int | tuple[int, int] = 896,
                 **kwargs: Any) -> None:
        super().__init__(crop_size=crop_size, **kwargs)
        self.root = root

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return cityscapes_dataset(self.root, split, transforms=transforms,
                                  ignore_index=self.ignore_index)


class VOCDataModule(SegmentationDataModule):
    """Pascal VOC 2012 segmentation, 21 classes; ``root`` holds ``VOCdevkit``.

    ``train_split`` may be ``trainval`` (e.g. for a final model); validation and test use
    ``val``.

    Args:
        root: Folder holding VOCdevkit/ (VOCdevkit/VOC2012/JPEGImages, SegmentationClass, ...).
        train_split: Image list used for training: train or trainval.
        crop_size: Training crop in pixels: one size for a square, or (height, width).
    """

    num_classes = len(VOC_CLASSES)
    class_names = VOC_CLASSES
    palette = VOC_PALETTE

    def __init__(self, root: str, *, train_split: str = "train",
                 crop_size: int | tuple[int, int] = 512, **kwargs: Any) -> None:
        super().__init__(crop_size=crop_size, **kwargs)
        self.root = root
        self.split_names = {"train": train_split, "val": "val", "test": "val"}

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return voc_dataset(self.root, split, transforms=transforms,
                           ignore_index=self.ignore_index)


class DRNListDataModule(SegmentationDataModule):
    """The official DRN list layout (``info.json`` and image/label lists).

    ``mean``/``std`` default to ``info.json``'s. Validation and test use ``val`` (the layout's
    ``test`` split has no labels); predict defaults to ``test_images.txt``.

    Args:
        root: Folder holding info.json and the {train,val,test}_images.txt/_labels.txt lists.
        num_classes: Classes in the label images (train ids 0 to num_classes - 1).
        class_names: One name per class for tables and outputs; null: class_0, class_1, ...
        crop_size: Training crop in pixels: one size for a square, or (height, width).
    """

    own_statistics = True

    def __init__(self, root: str, *, num_classes: int = 19,
                 class_names: list[str] | None = None,
                 crop_size: int | tuple[int, int] = 896, **kwargs: Any) -> None:
        super().__init__(crop_size=crop_size, **kwargs)
        self.root = root
        self.use_class_table(num_classes, class_names)
        self.default_mean, self.default_std = read_info(root)

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return drn_list_dataset(self.root, split, num_classes=self.num_classes,
                                transforms=transforms, ignore_index=self.ignore_index)

    def predict_source(self) -> str:
        return self.predict_path or f"{self.root}/test_images.txt"


class FolderSegmentationDataModule(SegmentationDataModule):
    """Your own images and masks: ``root/images/{split}/*``, ``root/masks/{split}/*.png``.

    Masks hold train ids and share the image's file stem. A split set to ``None`` (or ``""``)
    reads ``root/images`` and ``root/masks`` directly.

    Args:
        root: Folder holding images/ and masks/ (masks: PNGs of class ids, same file stems).
        num_classes: Classes in the masks (ids 0 to num_classes - 1; ignore_index unlabelled).
        class_names: One name per class for tables and outputs; null: class_0, class_1, ...
        train_split: Sub-folder of images/ and masks/ to train on; null: the folders
            themselves.
        val_split: Sub-folder to validate on; null: the folders themselves.
        test_split: Sub-folder to test on; null: the folders themselves.
    """

    def __init__(self, root: str, *, num_classes: int, class_names: list[str] | None = None,
                 train_split: str | None = "train", val_split: str | None = "val",
                 test_split: str | None = "val", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.use_class_table(num_classes, class_names)
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}

    def read_split(self, split: str | None, transforms: Callable[..., Any]) -> Dataset:
        return folder_dataset(self.root, split, num_classes=self.num_classes,
                              transforms=transforms, ignore_index=self.ignore_index)


class SyntheticContextDataModule(SegmentationDataModule):
    """The built-in context set (:mod:`drnet.data.segmentation.synthetic`), generated on the fly.

    No files, no augmentation (every network sees the same data stream), one image size, so
    validation batches may hold several images. ``class_weights`` holds the set's suggested
    loss weights.

    Args:
        num_train: Training images (one pass over them is an epoch).
        num_val: Validation images.
        num_test: Test images.
        image_size: Side of the square images in pixels (>= 48).
        num_bands: Grey bands per image, each classed by a coloured tag at one of its ends.
        batch_size: Training images per batch and process.
        val_batch_size: Validation and test images per batch and process.
        num_workers: DataLoader worker processes per process (0: generate in the main process).
        seed: Seed of the generated images (each split its own stream) and of the order.
        predict_path: What predict reads: an image, a folder of images or a .txt list of paths.
    """

    num_classes = synthetic.ContextSegmentationDataset.num_classes
    class_names = synthetic.CLASS_NAMES
    palette = synthetic.PALETTE
    class_weights = synthetic.CLASS_WEIGHTS
    default_mean, default_std = synthetic.MEAN, synthetic.STD
    own_statistics = True

    def __init__(self, *, num_train: int = 2048, num_val: int = 64, num_test: int = 64,
                 image_size: int = 128, num_bands: int = 1, batch_size: int = 16,
                 val_batch_size: int = 16, num_workers: int = 0, seed: int = 0,
                 predict_path: str | None = None) -> None:
        super().__init__(batch_size=batch_size, val_batch_size=val_batch_size,
                         num_workers=num_workers, crop_size=image_size, scale_range=None,
                         flip=False, ignore_index=255, seed=seed, predict_path=predict_path)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.image_size, self.num_bands = image_size, num_bands
        self.split_names = {"train": "train", "val": "val", "test": "test"}

    def train_transforms(self) -> Callable[..., Any]:
        return segmentation_eval_transforms(self.mean, self.std)

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return synthetic.ContextSegmentationDataset(self.sizes[split], self.image_size,
                                                    self.seed, split, num_bands=self.num_bands,
                                                    transforms=transforms)
