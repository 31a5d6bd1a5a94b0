"""Images to predict on, from an image file, a folder tree, or a ``.txt`` list of paths, with the
root that their outputs mirror."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drnet.data.images import require_files
from drnet.data.segmentation.files import SegmentationFiles
from drnet.data.segmentation.folder import IMAGE_EXTENSIONS
from drnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD, segmentation_eval_transforms
from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class PredictInputs:
    """What a predict source names. ``root``: the folder that outputs mirror (each output's
    path is its image's path relative to it). ``folder``: the source folder, read recursively
    (an output folder inside it would be read back as input), else ``None``."""

    images: list[Path]
    root: Path
    folder: Path | None = None


def resolve_inputs(source: str | Path) -> PredictInputs:
    """The images that ``source`` names.

    An image file is itself (root: its folder). A folder gives every image in its tree (sorted
    by relative path; hidden files and folders, such as ``.ipynb_checkpoints`` or macOS ``._*``
    files, are left out), root: the folder. A ``.txt`` file gives one path per non-blank line,
    relative paths taken from the list's folder (as in the DRN list layout), root: the deepest
    folder holding them all; a path listed twice is an error.
    """
    source = Path(source)
    if source.is_dir():
        images = list_image_tree(source)
        if not images:
            raise DrnetValueError(f"folder {source} holds no images "
                                  f"({', '.join(IMAGE_EXTENSIONS)}), also in its sub-folders")
        return PredictInputs(images, source, source)
    if not source.is_file():
        raise FileNotFoundError(f"predict source {source} does not exist (expected an image, "
                                "a folder of images or a .txt list)")
    if source.suffix.lower() == ".txt":
        lines = [(n, line.strip()) for n, line in enumerate(source.read_text().splitlines(), 1)]
        listed = [(n, source.parent / line) for n, line in lines if line]
        images = [image for _, image in listed]
        require_files(images, f"list {source}")
        _refuse_repeats(listed, source)
        return PredictInputs(images, common_root(images))
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DrnetValueError(f"predict source {source} is neither an image "
                              f"({', '.join(IMAGE_EXTENSIONS)}), a folder nor a .txt list")
    return PredictInputs([source], source.parent)


def list_image_tree(folder: Path) -> list[Path]:
    """Image files under ``folder`` at any depth (not through hidden or linked folders),
    sorted by their path relative to it."""
    found = []
    for parent, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")]
        found += [Path(parent) / f for f in files
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def common_root(paths: Sequence[Path]) -> Path:
    """The deepest folder holding every path (lexically, after making them absolute)."""
    return Path(os.path.commonpath([os.path.abspath(p.parent) for p in paths]))


def _refuse_repeats(listed: Sequence[tuple[int, Path]], source: Path) -> None:
    seen: dict[str, int] = {}
    for line, image in listed:
        key = os.path.abspath(image)
        if key in seen:
            raise DrnetValueError(f"list {source} names {image} twice (lines {seen[key]} and "
                                  f"{line}): each image is predicted once, into one output")
        seen[key] = line


class PredictImages(SegmentationFiles):
    """Samples ``{"image": float (3, H, W) normalised, "path": str}`` at the original size;
    ``root`` and ``folder`` as in :class:`PredictInputs`."""

    def __init__(self, source: str | Path, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        inputs = resolve_inputs(source)
        self.root, self.folder = inputs.root, inputs.folder
        super().__init__(inputs.images, None, transforms=segmentation_eval_transforms(mean, std),
                         name=f"predict source {source}")
