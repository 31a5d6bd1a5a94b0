"""Lightning tasks: the only part of drnet that imports Lightning."""

from drnet.tasks.classification import ClassificationTask
from drnet.tasks.detection import DetectionTask
from drnet.tasks.segmentation import SegmentationTask

__all__ = ["ClassificationTask", "DetectionTask", "SegmentationTask"]
