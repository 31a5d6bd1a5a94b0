"""Classification readers: ImageFolder (ImageNet layout) and CIFAR-10's python pickles, through
torchvision's readers, as dict samples ``{"image": float (3, H, W), "target": int}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10, ImageFolder

from drnet.data.bad_samples import SkipsBadSamples
from drnet.data.images import read_image, require_dir
from drnet.errors import DrnetValueError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


class DictSamples(SkipsBadSamples, Dataset):
    """An ``(image, target)`` dataset seen as ``{"image", "target"}`` dicts of plain types."""

    def __init__(self, dataset: Any, name: str | None = None) -> None:
        self.dataset = dataset
        self.name = name or f"{type(dataset).__name__} {getattr(dataset, 'root', '')}".strip()
        self._init_bad_counter()

    def __len__(self) -> int:
        return len(self.dataset)

    def _load(self, index: int) -> dict[str, Any]:
        image, target = self.dataset[index]
        return {"image": image.as_subclass(torch.Tensor), "target": int(target)}


def imagefolder_classes(root: str | Path, split: str = "train") -> list[str]:
    """The class folders of ``root/split`` (sorted, as torchvision assigns indices)."""
    folder = require_dir(Path(root) / split, f"ImageFolder {split} split")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise DrnetValueError(f"ImageFolder {split} split {folder} holds no class folders "
                              "(expected split/<class>/<image>)")
    return classes


def imagefolder_dataset(root: str | Path, split: str, classes: Sequence[str],
                        transform: Callable[..., Any]) -> DictSamples:
    """``root/split/<class>/*`` through torchvision's ``ImageFolder``; its classes must be
    exactly ``classes`` (the training split's), else the indices would silently differ."""
    folder = Path(root) / split
    found = imagefolder_classes(root, split)
    if found != list(classes):
        raise DrnetValueError(f"ImageFolder {folder} has classes "
                              f"{sorted(set(found) ^ set(classes))} that the training split lacks, "
                              "or lacks some of its classes: both must hold the same class folders")
    return DictSamples(ImageFolder(str(folder), transform=transform, loader=read_image),
                       name=f"ImageFolder {folder}")


class _CIFAR10Files(CIFAR10):
    """torchvision's reader, with its md5 checks replaced by existence checks (md5 ``None``)
    so that copies re-pickled elsewhere (and test fixtures) load; never downloads."""

    train_list: ClassVar = [[name, None] for name, _ in CIFAR10.train_list]
    test_list: ClassVar = [[name, None] for name, _ in CIFAR10.test_list]
    meta: ClassVar = {**CIFAR10.meta, "md5": None}


def cifar10_dataset(root: str | Path, train: bool,
                    transform: Callable[..., Any]) -> DictSamples:
    """The CIFAR-10 training batches (1-5) or the test batch under ``root/cifar-10-batches-py``."""
    folder = require_dir(Path(root) / CIFAR10.base_folder, "CIFAR-10 pickles")
    names = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list]
    missing = [n for n in [*names, CIFAR10.meta["filename"]] if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 pickles: {', '.join(missing)} missing in {folder}")
    return DictSamples(_CIFAR10Files(str(root), train=train, transform=transform,
                                     download=False),
                       name=f"CIFAR-10 {'training' if train else 'test'} batches in {folder}")
