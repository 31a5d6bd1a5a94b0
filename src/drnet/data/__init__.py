"""Data: dataset readers (real layouts and built-in synthetic sets), paired transforms and
LightningDataModules.

``segmentation/``, ``classification/`` and ``detection/`` each hold their readers, synthetic set
and DataModules; the pieces they share sit here: ``datamodule_base`` (loaders, roles -> splits,
mean/std), ``transforms``, ``images`` (finding and decoding files), ``bad_samples``,
``sampler`` (resumable order), ``preprocessing`` (data vs weights) and ``predict`` (inputs).
The readers and transforms need only torch, torchvision, numpy and Pillow. The DataModules are
exported here too but imported on first use, so ``import drnet.data`` does not load Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

from drnet.data.classification.readers import cifar10_dataset, imagefolder_dataset
from drnet.data.classification.synthetic import GratingClassification
from drnet.data.detection.coco import COCODetection
from drnet.data.detection.samples import collate_detection, detection_transforms
from drnet.data.detection.synthetic import ShapesDetectionDataset
from drnet.data.predict import PredictImages
from drnet.data.segmentation.cityscapes import cityscapes_dataset
from drnet.data.segmentation.drn_lists import drn_list_dataset, read_info
from drnet.data.segmentation.files import SegmentationFiles
from drnet.data.segmentation.folder import folder_dataset
from drnet.data.segmentation.synthetic import ContextSegmentationDataset
from drnet.data.segmentation.voc import VOC_CLASSES, VOC_PALETTE, voc_dataset
from drnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomScale,
    segmentation_eval_transforms,
    segmentation_train_transforms,
)
from drnet.models.preprocessing import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE

_LAZY = {
    "SegmentationDataModule": "drnet.data.segmentation.datamodules",
    "CityscapesDataModule": "drnet.data.segmentation.datamodules",
    "VOCDataModule": "drnet.data.segmentation.datamodules",
    "DRNListDataModule": "drnet.data.segmentation.datamodules",
    "FolderSegmentationDataModule": "drnet.data.segmentation.datamodules",
    "SyntheticContextDataModule": "drnet.data.segmentation.datamodules",
    "ClassificationDataModule": "drnet.data.classification.datamodules",
    "ImageFolderDataModule": "drnet.data.classification.datamodules",
    "CIFAR10DataModule": "drnet.data.classification.datamodules",
    "SyntheticClassificationDataModule": "drnet.data.classification.datamodules",
    "DetectionDataModule": "drnet.data.detection.datamodules",
    "COCODetectionDataModule": "drnet.data.detection.datamodules",
    "SyntheticDetectionDataModule": "drnet.data.detection.datamodules",
}

__all__ = [
    "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "IMAGENET_MEAN", "IMAGENET_STD", "VOC_CLASSES",
    "VOC_PALETTE", "COCODetection", "ContextSegmentationDataset", "GratingClassification",
    "PredictImages", "RandomScale", "SegmentationFiles", "ShapesDetectionDataset",
    "cifar10_dataset", "cityscapes_dataset", "collate_detection", "detection_transforms",
    "drn_list_dataset", "folder_dataset", "imagefolder_dataset", "read_info",
    "segmentation_eval_transforms", "segmentation_train_transforms", "voc_dataset", *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import a DataModule (and Lightning) only when it is asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drnet.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
