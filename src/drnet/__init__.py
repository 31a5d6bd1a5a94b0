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
    with_output_stride,
)

__version__ = "0.1.0"
__all__ = ["CheckpointError", "__version__", "create_model", "enable_checkpointing", "list_models",
           "list_pretrained", "load_pretrained", "optimize_for_inference", "with_output_stride"]


def __getattr__(name: str) -> object:
    """``drnet.optimize_for_inference`` / ``drnet.enable_checkpointing``, imported on first use."""
    if name in ("optimize_for_inference", "enable_checkpointing"):
        import drnet.fast

        return getattr(drnet.fast, name)
    raise AttributeError(f"module 'drnet' has no attribute {name!r}")
