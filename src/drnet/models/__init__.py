"""Models: backbones (ResNet, DRN), segmentation models, the registry and weights."""

from drnet.models import detection, drn, resnet, segmentation  # noqa: F401  (registers)
from drnet.models.base import Backbone, FeatureInfo
from drnet.models.checkpoint_files import CheckpointError, read_checkpoint
from drnet.models.factory import create_model, with_output_stride
from drnet.models.features import FeatureListNet
from drnet.models.pretrained import PretrainedWeights, list_pretrained
from drnet.models.registry import ModelEntry, get_entry, list_models, register_model
from drnet.models.segmentation import SegmentationModel
from drnet.models.weights import LoadReport, load_pretrained

__all__ = [
    "Backbone",
    "CheckpointError",
    "FeatureInfo",
    "FeatureListNet",
    "LoadReport",
    "ModelEntry",
    "PretrainedWeights",
    "SegmentationModel",
    "create_model",
    "get_entry",
    "list_models",
    "list_pretrained",
    "load_pretrained",
    "read_checkpoint",
    "register_model",
    "with_output_stride",
]
