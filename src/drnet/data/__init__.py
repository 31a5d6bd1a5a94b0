"""Data: dataset readers (real layouts and built-in synthetic sets), paired transforms and
LightningDataModules.

The readers and transforms need only torch, torchvision, numpy and Pillow. The DataModules are
exported here too but imported on first use, so ``import drnet.data`` does not load Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

from drnet.data.cityscapes import cityscapes_dataset
from drnet.data.classification import cifar10_dataset, imagefolder_dataset
from drnet.data.coco import COCODetection
from drnet.data.detection_samples import collate_detection, detection_transforms
from drnet.data.drn_lists import drn_list_dataset, read_info
from drnet.data.folder import folder_dataset
from drnet.data.predict import PredictImages
from drnet.data.segmentation_dataset import SegmentationFiles
from drnet.data.synthetic import ContextSegmentationDataset
from drnet.data.synthetic_classification import GratingClassification
from drnet.data.synthetic_detection import ShapesDetectionDataset
from drnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomScale,
    segmentation_eval_transforms,
    segmentation_train_transforms,
)
from drnet.data.voc import VOC_CLASSES, VOC_PALETTE, voc_dataset
from drnet.models.preprocessing import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE

_LAZY = {
    "SegmentationDataModule": "drnet.data.segmentation_datamodule",
    "CityscapesDataModule": "drnet.data.segmentation_datamodules",
    "VOCDataModule": "drnet.data.segmentation_datamodules",
    "DRNListDataModule": "drnet.data.segmentation_datamodules",
    "FolderSegmentationDataModule": "drnet.data.segmentation_datamodules",
    "SyntheticContextDataModule": "drnet.data.segmentation_datamodules",
    "ClassificationDataModule": "drnet.data.classification_datamodules",
    "ImageFolderDataModule": "drnet.data.classification_datamodules",
    "CIFAR10DataModule": "drnet.data.classification_datamodules",
    "SyntheticClassificationDataModule": "drnet.data.classification_datamodules",
    "DetectionDataModule": "drnet.data.detection_datamodules",
    "COCODetectionDataModule": "drnet.data.detection_datamodules",
    "SyntheticDetectionDataModule": "drnet.data.detection_datamodules",
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
