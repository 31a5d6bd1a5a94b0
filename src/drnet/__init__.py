"""drnet: dilated residual networks for PyTorch.

The package is loaded lazily: ``import drnet`` runs no torch code, and the public names below
import their module on first use (``drnet.create_model`` needs only torch and torchvision; the
training stack, detection models and plots are imported by the code that uses them). This is what
keeps ``drnet --help`` and ``drnet --version`` under a second (torch alone takes ~1.5 s).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "CheckpointError": "drnet.models",
    "DrnetError": "drnet.errors",
    "create_model": "drnet.models",
    "list_models": "drnet.models",
    "list_pretrained": "drnet.models",
    "load_pretrained": "drnet.models",
    "with_output_stride": "drnet.models",
    "optimize_for_inference": "drnet.fast",
    "enable_checkpointing": "drnet.fast",
}
__all__ = ["CheckpointError", "DrnetError", "__version__", "create_model", "enable_checkpointing",
           "list_models", "list_pretrained", "load_pretrained", "optimize_for_inference",
           "with_output_stride"]

if TYPE_CHECKING:
    from drnet.errors import DrnetError
    from drnet.fast import enable_checkpointing, optimize_for_inference
    from drnet.models import (
        CheckpointError,
        create_model,
        list_models,
        list_pretrained,
        load_pretrained,
        with_output_stride,
    )


def __getattr__(name: str) -> object:
    """A public name (imports its module) or a sub-package (``drnet.models`` after a bare
    ``import drnet``, as when the package imported its models eagerly)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise  # the sub-package exists but needs something missing: say what
    raise AttributeError(f"module 'drnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
