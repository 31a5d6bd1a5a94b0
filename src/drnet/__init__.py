"""drnet: dilated residual networks for PyTorch.

``import drnet`` needs only torch and torchvision; the training stack (Lightning) is imported by
the commands and tasks that use it.
"""

from drnet.models import (
    CheckpointError,
    create_model,
    list_models,
    list_pretrained,
    load_pretrained,
)

__version__ = "0.1.0"
__all__ = ["CheckpointError", "__version__", "create_model", "list_models", "list_pretrained",
           "load_pretrained"]
