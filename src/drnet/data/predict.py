"""Images to predict on, from an image file, a folder, or a ``.txt`` list of paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from drnet.data.folder import IMAGE_EXTENSIONS, list_images
from drnet.data.segmentation_dataset import SegmentationFiles, require_files
from drnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD, segmentation_eval_transforms


def resolve_images(source: str | Path) -> list[Path]:
    """The image paths that ``source`` names.

    An image file is itself; a folder gives its images (sorted, not recursive); a ``.txt`` file
    gives one path per non-blank line, relative paths taken from the list's folder (as in the DRN
    list layout).
    """
    source = Path(source)
    if source.is_dir():
        images = list_images(source)
        if not images:
            raise ValueError(f"folder {source} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return images
    if not source.is_file():
        raise FileNotFoundError(f"predict source {source} does not exist (expected an image, "
                                "a folder of images or a .txt list)")
    if source.suffix.lower() == ".txt":
        lines = [line.strip() for line in source.read_text().splitlines()]
        images = [source.parent / line for line in lines if line]
        require_files(images, f"list {source}")
        return images
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"predict source {source} is neither an image "
                         f"({', '.join(IMAGE_EXTENSIONS)}), a folder nor a .txt list")
    return [source]


class PredictImages(SegmentationFiles):
    """Samples ``{"image": float (3, H, W) normalised, "path": str}`` at the original size."""

    def __init__(self, source: str | Path, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__(resolve_images(source), None,
                         transforms=segmentation_eval_transforms(mean, std),
                         name=f"predict source {source}")
