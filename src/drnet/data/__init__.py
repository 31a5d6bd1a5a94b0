"""Data: dataset readers (real layouts and built-in synthetic sets), paired transforms and
LightningDataModules."""

from drnet.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, cityscapes_dataset
from drnet.data.drn_lists import drn_list_dataset, read_info
from drnet.data.folder import folder_dataset
from drnet.data.segmentation_dataset import SegmentationFiles
from drnet.data.synthetic import ContextSegmentationDataset
from drnet.data.synthetic_classification import GratingClassification
from drnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomScale,
    segmentation_eval_transforms,
    segmentation_train_transforms,
)
from drnet.data.voc import VOC_CLASSES, VOC_PALETTE, voc_dataset

__all__ = [
    "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "IMAGENET_MEAN", "IMAGENET_STD", "VOC_CLASSES",
    "VOC_PALETTE", "ContextSegmentationDataset", "GratingClassification", "RandomScale",
    "SegmentationFiles", "cityscapes_dataset", "drn_list_dataset", "folder_dataset", "read_info",
    "segmentation_eval_transforms", "segmentation_train_transforms", "voc_dataset",
]
