"""The segmentation DataModule base class (imports Lightning).

Batches are dicts ``{"image": float (N, 3, H, W) normalised, "mask": int64 (N, H, W),
"path": list[str]}``. Training draws random crops of ``crop_size`` (padded with 0 / ignore_index);
validation and test use full images, unscaled and uncropped, so mIoU is measured as papers do;
predict yields ``{"image", "path"}`` for ``predict_path`` (an image, a folder or a .txt list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from torch.utils.data import Dataset

from drnet.data.datamodule_base import DataModuleBase, Stats
from drnet.data.segmentation_dataset import collate_segmentation
from drnet.data.transforms import segmentation_eval_transforms, segmentation_train_transforms


class SegmentationDataModule(DataModuleBase):
    """Base class: subclasses set the class table (``num_classes``, ``class_names``, ``palette``)
    and implement :meth:`read_split`; ``split_names`` maps the roles to the layout's splits.

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
    # role -> the layout's split; subclasses with split arguments replace it per instance
    split_names: Mapping[str, str | None] = MappingProxyType(
        {"train": "train", "val": "val", "test": "val"})

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
        self.train_transforms()  # a bad crop/scale/rotate fails here, not at the first batch

    def read_split(self, split: Any, transforms: Callable[..., Any]) -> Dataset:
        """The layout's ``split`` with ``transforms`` applied to each sample."""
        raise NotImplementedError

    def train_transforms(self) -> Callable[..., Any]:
        return segmentation_train_transforms(self.crop_size, self.scale_range, self.rotate,
                                             self.flip, self.mean, self.std, self.ignore_index)

    def eval_transforms(self) -> Callable[..., Any]:
        return segmentation_eval_transforms(self.mean, self.std)

    def make_dataset(self, role: str) -> Dataset:
        transforms = self.train_transforms() if role == "train" else self.eval_transforms()
        return self.read_split(self.split_names[role], transforms)
