"""A generic folder of images and same-stem masks: ``root/images/{split}/a.jpg`` with
``root/masks/{split}/a.png`` (or, with ``split=None``, ``root/images`` and ``root/masks``). Masks
are single-channel PNGs of train ids (255 = ignore)."""

from __future__ import annotations

from pathlib import Path

from drnet.data.images import require_dir
from drnet.data.segmentation.files import SegmentationFiles, identity_label_map
from drnet.data.transforms import Transform
from drnet.errors import DrnetValueError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by extension, case-insensitive), sorted."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise DrnetValueError(f"{folder}: two files share the stem {path.stem!r} "
                                  f"({stems[path.stem].name}, {path.name})")
        stems[path.stem] = path
    return stems


def folder_dataset(root: str | Path, split: str | None = "train", *, num_classes: int,
                   transforms: Transform | None = None,
                   ignore_index: int = 255) -> SegmentationFiles:
    """Every image of ``images[/split]`` paired with the mask of the same stem."""
    root = require_dir(Path(root), "segmentation folder root")
    sub = Path(split) if split else Path()
    image_dir = require_dir(root / "images" / sub, "segmentation folder images")
    mask_dir = require_dir(root / "masks" / sub, "segmentation folder masks")
    images = _by_stem(list_images(image_dir), image_dir)
    masks = _by_stem(list_images(mask_dir), mask_dir)
    unmatched = sorted(set(images) - set(masks))
    if unmatched:
        raise FileNotFoundError(f"{len(unmatched)} images in {image_dir} have no mask of the "
                                f"same stem in {mask_dir}, e.g. {unmatched[:3]}")
    stems = sorted(images)
    return SegmentationFiles([images[s] for s in stems], [masks[s] for s in stems],
                             label_map=identity_label_map(num_classes, ignore_index),
                             transforms=transforms, name=f"folder {image_dir}")
