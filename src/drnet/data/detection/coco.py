"""COCO-format detection data (torchvision's ``CocoDetection`` layout), read without pycocotools.

Layout under ``root``: ``annotations/instances_<split>.json`` and the images in
``images/<split>/`` or ``<split>/`` (COCO 2017: ``train2017/``, ``val2017/``). The JSON is the
COCO schema: ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations``
(``image_id``, ``category_id``, ``bbox`` = [x, y, width, height] in pixels, ``iscrowd``) and
``categories`` (``id``, ``name``). Category ids (COCO's run 1..90 with gaps) become contiguous
labels 1..K in id order, 0 being the background; crowd regions and boxes with no area inside
the image are dropped; images without boxes are kept (they teach the background).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F

from drnet.data.detection.samples import finish_detection_sample, to_detection_sample
from drnet.data.images import read_image, require_files
from drnet.data.transforms import Transform
from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class CocoImage:
    """One image of an annotation file with its kept boxes (xyxy) and category ids."""

    file_name: str
    boxes: np.ndarray  # float32 (N, 4) xyxy
    category_ids: np.ndarray  # int64 (N,)


def annotation_file(root: str | Path, split: str) -> Path:
    """``root/annotations/instances_<split>.json``, or an error naming it."""
    path = Path(root) / "annotations" / f"instances_{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file {path} does not exist (expected "
                                f"<root>/annotations/instances_<split>.json)")
    return path


def image_folder(root: str | Path, split: str) -> Path:
    """``root/images/<split>`` or ``root/<split>``, whichever exists."""
    candidates = [Path(root) / "images" / split, Path(root) / split]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"COCO images for split {split!r}: neither "
                            f"{' nor '.join(map(str, candidates))} is a folder")


def read_annotations(path: str | Path) -> dict[str, Any]:
    """The parsed JSON, checked for the three COCO lists and their required fields."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DrnetValueError(f"COCO annotation file {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise DrnetValueError(f"COCO annotation file {path} must hold a JSON object, got "
                              f"{type(data).__name__}")
    required = {"images": ("id", "file_name"), "annotations": ("image_id", "category_id", "bbox"),
                "categories": ("id", "name")}
    for key, fields in required.items():
        items = data.get(key)
        if not isinstance(items, list):
            raise DrnetValueError(f"COCO annotation file {path} needs a list {key!r}, got "
                                  f"{type(items).__name__ if key in data else 'nothing'}")
        for i, item in enumerate(items):
            missing = [f for f in fields if not isinstance(item, dict) or f not in item]
            if missing:
                raise DrnetValueError(f"COCO annotation file {path}: {key}[{i}] lacks {missing}")
    for i, ann in enumerate(data["annotations"]):
        bbox = ann["bbox"]
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(isinstance(v, int | float) for v in bbox)):
            raise DrnetValueError(f"COCO annotation file {path}: annotations[{i}].bbox must be [x, "
                                  f"y, width, height], got {bbox!r}")
    return data


def categories(data: dict[str, Any]) -> list[tuple[int, str]]:
    """(category id, name) in id order: label ``k`` (1-based) is the k-th of them."""
    return sorted((int(c["id"]), str(c["name"])) for c in data["categories"])


def index_images(data: dict[str, Any], path: str | Path) -> list[CocoImage]:
    """Images in id order with their usable boxes: xywh -> xyxy clipped to the image (when
    its size is given), crowd regions and boxes without area dropped."""
    known = {int(c["id"]) for c in data["categories"]}
    images = {int(img["id"]): img for img in data["images"]}
    per_image: dict[int, list[tuple[list[float], int]]] = {i: [] for i in images}
    for i, ann in enumerate(data["annotations"]):
        image_id, category = int(ann["image_id"]), int(ann["category_id"])
        if image_id not in images:
            raise DrnetValueError(f"COCO annotation file {path}: annotations[{i}] refers to image "
                                  f"id {image_id}, which is not in 'images'")
        if category not in known:
            raise DrnetValueError(f"COCO annotation file {path}: annotations[{i}] has category id "
                                  f"{category}, which is not in 'categories'")
        if not ann.get("iscrowd", 0):
            x, y, w, h = (float(v) for v in ann["bbox"])
            per_image[image_id].append(([x, y, x + w, y + h], category))
    out = []
    for image_id in sorted(images):
        img, anns = images[image_id], per_image[image_id]
        boxes = np.asarray([b for b, _ in anns], dtype=np.float32).reshape(-1, 4)
        if "width" in img and "height" in img:
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, float(img["width"]))
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, float(img["height"]))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        ids = np.asarray([c for _, c in anns], dtype=np.int64)
        out.append(CocoImage(str(img["file_name"]), boxes[keep], ids[keep]))
    return out


class COCODetection(Dataset):
    """Samples ``{"image", "target": {"boxes", "labels"}, "path"}`` of one split.

    ``category_ids`` fixes the label order (the training split's, so validation labels agree);
    by default the file's own categories in id order. ``data``: the annotation file already
    parsed (COCO's training file is ~450 MB: the DataModule reads it once).
    """

    def __init__(self, root: str | Path, split: str, *, category_ids: list[int] | None = None,
                 transforms: Transform | None = None, data: dict[str, Any] | None = None) -> None:
        self.annotation_file = annotation_file(root, split)
        self.folder = image_folder(root, split)
        if data is None:
            data = read_annotations(self.annotation_file)
        own = [c for c, _ in categories(data)]
        self.category_ids = list(own if category_ids is None else category_ids)
        if set(own) - set(self.category_ids):
            raise DrnetValueError(f"COCO annotation file {self.annotation_file} has categories "
                                  f"{sorted(set(own) - set(self.category_ids))} that the training "
                                  "split does not have")
        self.labels = {c: k + 1 for k, c in enumerate(self.category_ids)}
        self.images = index_images(data, self.annotation_file)
        require_files([self.folder / img.file_name for img in self.images],
                      f"COCO images of {self.annotation_file}")
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.images[index]
        path = self.folder / entry.file_name
        image = F.pil_to_tensor(read_image(path))  # any mode; a broken file is named
        height, width = image.shape[-2:]
        boxes = torch.from_numpy(entry.boxes.copy())
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)  # files without width/height
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        labels = torch.tensor([self.labels[c] for c in entry.category_ids.tolist()],
                              dtype=torch.int64)
        sample = to_detection_sample(image, boxes, labels, str(path))
        if self.transforms is not None:
            sample = self.transforms(sample)
        return finish_detection_sample(sample)
