"""Image/mask file pairs -> aligned samples: the one place where segmentation files are decoded.

Every segmentation reader (Cityscapes, VOC, DRN lists, folder) only finds its pairs and builds a
label map; decoding, checking and transforming happen here, so every layout gets the same checks:
a mask of another size than its image, a colour mask, or a value that is no class and not the
ignore value raise an error naming the file, never a silently wrong target.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, default_collate

from drnet.data.bad_samples import BadSampleError, SkipsBadSamples
from drnet.data.images import read_image, require_files
from drnet.data.transforms import Transform, finish_sample, to_segmentation_sample
from drnet.errors import DrnetValueError

INVALID = -1  # label-map entry for a value that must not occur in a mask file
_MASK_MODES = ("L", "P", "I", "I;16")


def identity_label_map(num_classes: int, ignore_index: int = 255,
                       file_ignore: int = 255) -> np.ndarray:
    """Label map for files that already hold train ids: ``0..num_classes-1`` stay, the file's
    ignore value becomes ``ignore_index``, anything else is invalid."""
    if not 1 <= num_classes < file_ignore:
        raise DrnetValueError(f"num_classes must be in [1, {file_ignore}) for 8-bit masks whose "
                              f"ignore value is {file_ignore}, got {num_classes}")
    label_map = np.full(256, INVALID, dtype=np.int64)
    label_map[:num_classes] = np.arange(num_classes)
    label_map[file_ignore] = ignore_index
    return label_map


def read_mask(path: Path, label_map: np.ndarray) -> np.ndarray:
    """Class indices (H, W) int64 from a single-channel PNG, through ``label_map``."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            values = np.asarray(img).astype(np.int64) if mode in _MASK_MODES else None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise BadSampleError(f"mask {path} cannot be decoded ({type(err).__name__}: {err})"
                             ) from None
    if values is None:
        raise BadSampleError(f"mask {path} must be a single-channel image of class indices "
                             f"(PNG mode L, P or I), got mode {mode}")
    too_large = values >= len(label_map)
    if too_large.any() or (values < 0).any():
        raise BadSampleError(f"mask {path} holds values outside 0..{len(label_map) - 1}: "
                             f"{np.unique(values[too_large | (values < 0)])[:10].tolist()}")
    mask = label_map[values]
    if (mask == INVALID).any():
        bad = np.unique(values[mask == INVALID])[:10].tolist()
        raise BadSampleError(f"mask {path} holds values that are neither a class nor the "
                             f"ignore value: {bad}")
    return mask


class SegmentationFiles(SkipsBadSamples, Dataset):
    """Pairs of image and mask files (``masks=None`` for unlabelled splits) as samples
    ``{"image": float (3, H, W), "mask": int64 (H, W), "path": str}`` after ``transforms``."""

    def __init__(self, images: Sequence[Path], masks: Sequence[Path] | None, *,
                 label_map: np.ndarray | None = None, transforms: Transform | None = None,
                 name: str = "segmentation dataset") -> None:
        self.images = [Path(p) for p in images]
        self.masks = None if masks is None else [Path(p) for p in masks]
        if self.masks is not None and label_map is None:
            raise DrnetValueError(f"{name}: masks need a label_map to decode them")
        if self.masks is not None and len(self.masks) != len(self.images):
            raise DrnetValueError(f"{name}: {len(self.images)} images but {len(self.masks)} masks")
        require_files(self.images, f"{name} images")
        if self.masks is not None:
            require_files(self.masks, f"{name} masks")
        self.label_map = label_map
        self.transforms = transforms
        self.name = name
        self._init_bad_counter()

    def __len__(self) -> int:
        return len(self.images)

    def _load(self, index: int) -> dict[str, Any]:
        path = self.images[index]
        image = read_image(path)
        mask = None
        if self.masks is not None:
            mask = read_mask(self.masks[index], self.label_map)  # type: ignore[arg-type]
            if mask.shape != (image.height, image.width):
                raise BadSampleError(f"mask {self.masks[index]} is {mask.shape[1]}x{mask.shape[0]} "
                                 f"but its image {path} is {image.width}x{image.height} (WxH)")
        sample = to_segmentation_sample(image, mask, str(path))
        if self.transforms is not None:
            sample = self.transforms(sample)
        return finish_sample(sample)


def collate_segmentation(samples: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """``default_collate`` with a clear error when full-size images of different sizes meet in
    one batch (validation and test use full images); skipped samples (``None``) are left out,
    and a batch of only skipped samples is ``None`` (the tasks skip it)."""
    samples = [s for s in samples if s is not None]
    if not samples:
        return None
    sizes = {tuple(s["image"].shape[-2:]) for s in samples}
    if len(sizes) > 1:
        raise DrnetValueError(f"cannot batch images of different sizes {sorted(sizes)}: full "
                              "images are not cropped, so use val_batch_size=1 (or equal-sized "
                              "images)")
    return default_collate(samples)

