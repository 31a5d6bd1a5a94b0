"""Detection DataModules: COCO-format folders and the built-in synthetic shapes set.

Batches follow :mod:`drnet.data.detection.samples`: ``{"image": list of float (3, H, W),
"target": list of {"boxes": float (N, 4) xyxy, "labels": int64 (N,)}, "path": list[str]}``.
Images stay in [0, 1] by default (``mean`` 0, ``std`` 1): torchvision's detectors normalise
and resize themselves (``image_mean``/``image_std``, ``min_size``/``max_size``).
``num_classes`` counts the background (label 0) and ``class_names[0]`` is ``"background"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from drnet.data.datamodule_base import DataModuleBase, Stats
from drnet.data.detection import synthetic as shapes
from drnet.data.detection.coco import COCODetection, annotation_file, categories, read_annotations
from drnet.data.detection.samples import collate_detection, detection_transforms


class DetectionDataModule(DataModuleBase):
    """Base class: subclasses set ``num_classes`` and ``class_names`` after calling
    ``super().__init__``, implement :meth:`read_split` and name their splits in
    ``split_names``. Training flips horizontally (``flip``); every role drops boxes left under
    1 px by the transforms.

    Args:
        val_batch_size: Validation and test images per batch and process; null: batch_size.
        flip: Mirror training images (and their boxes) horizontally at random.
        mean: Per-channel (RGB) mean subtracted by the data module; null: 0 (the detector
            normalises itself).
        std: Per-channel (RGB) standard deviation divided by; null: 1.
    """

    num_classes: int
    class_names: list[str]
    default_mean: Stats = shapes.MEAN
    default_std: Stats = shapes.STD
    own_statistics = True  # [0, 1]: the detectors normalise with their own image_mean/std
    collate_fn = staticmethod(collate_detection)

    def __init__(self, *, batch_size: int = 8, val_batch_size: int | None = None,
                 num_workers: int = 0, flip: bool = True, mean: Stats | None = None,
                 std: Stats | None = None, seed: int = 0,
                 predict_path: str | None = None) -> None:
        super().__init__(batch_size=batch_size,
                         val_batch_size=batch_size if val_batch_size is None else val_batch_size,
                         num_workers=num_workers, mean=mean, std=std, seed=seed,
                         predict_path=predict_path)
        self.flip = flip

    def transforms_for(self, role: str) -> Callable[..., Any]:
        return detection_transforms(self.mean, self.std, flip=self.flip and role == "train")


class COCODetectionDataModule(DetectionDataModule):
    """COCO-format detection: ``root/annotations/instances_<split>.json`` and the images.

    Images lie in ``root/images/<split>/`` or ``root/<split>/``
    (:mod:`drnet.data.detection.coco`). The training split's categories fix the labels
    (``class_names`` = background + their names in id order); test reads ``test_split``
    (``val2017`` by default: COCO's test labels are not public).

    Args:
        root: Folder holding annotations/instances_<split>.json and the images.
        train_split: Split to train on (its categories fix the labels), e.g. train2017.
        val_split: Split to validate on.
        test_split: Split to test on.
    """

    def __init__(self, root: str, *, train_split: str = "train2017",
                 val_split: str = "val2017", test_split: str = "val2017",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        annotations = read_annotations(annotation_file(root, train_split))
        table = categories(annotations)
        self._train_annotations: dict[str, Any] | None = annotations  # handed over, then dropped
        self.category_ids = [c for c, _ in table]
        self.class_names = ["background", *(name for _, name in table)]
        self.num_classes = len(self.class_names)

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        data = None
        if split == self.split_names["train"]:  # parsed in __init__ for the categories: once
            data, self._train_annotations = self._train_annotations, None
        return COCODetection(self.root, split, category_ids=self.category_ids,
                             transforms=transforms, data=data)


class SyntheticDetectionDataModule(DetectionDataModule):
    """The built-in shapes set (:mod:`drnet.data.detection.synthetic`), generated on the fly.

    No files; no flip by default, so every network sees the same data stream.

    Args:
        num_train: Training images (one pass over them is an epoch).
        num_val: Validation images.
        num_test: Test images.
        image_size: Side of the square images in pixels.
        object_size: Smallest and largest object side in pixels, (min, max).
        num_objects: Fewest and most objects per image, (min, max).
        batch_size: Training images per batch and process.
        num_workers: DataLoader worker processes per process (0: generate in the main process).
        seed: Seed of the generated images (each split its own stream) and of the order.
        predict_path: What predict reads: an image, a folder of images or a .txt list of paths.
    """

    num_classes = shapes.ShapesDetectionDataset.num_classes
    class_names = shapes.CLASS_NAMES

    def __init__(self, *, num_train: int = 4096, num_val: int = 128, num_test: int = 128,
                 image_size: int = 128, object_size: tuple[int, int] = (6, 64),
                 num_objects: tuple[int, int] = (3, 8), batch_size: int = 8,
                 val_batch_size: int | None = None, num_workers: int = 0, flip: bool = False,
                 seed: int = 0, predict_path: str | None = None) -> None:
        super().__init__(batch_size=batch_size, val_batch_size=val_batch_size,
                         num_workers=num_workers, flip=flip, seed=seed,
                         predict_path=predict_path)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.split_names = {"train": "train", "val": "val", "test": "test"}
        self.image_size, self.object_size, self.num_objects = (
            image_size, tuple(object_size), tuple(num_objects))
        shapes.ShapesDetectionDataset(1, image_size, object_size=self.object_size,
                                      num_objects=self.num_objects)  # bad sizes fail here

    def read_split(self, split: str, transforms: Callable[..., Any]) -> Dataset:
        return shapes.ShapesDetectionDataset(
            self.sizes[split], self.image_size, self.seed, split, object_size=self.object_size,
            num_objects=self.num_objects, transforms=transforms)
