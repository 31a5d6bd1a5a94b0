"""Checkpoint files that survive crashes and can never run code when read.

Writes go through :func:`~drnet.atomic_files.atomic_write`: a temporary file beside the
target, fsynced and renamed over it, so a crash at any moment leaves either the previous
checkpoint or the new one, never a torn file; the file honours the umask like any file the user
writes, and temporary files left by a killed write are removed at the next write. Reads always
use ``torch.load(weights_only=True)``, whatever the caller asks for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from drnet.atomic_files import atomic_write
from drnet.errors import DrnetTypeError


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)``, atomically (see the module docstring)."""
    with atomic_write(Path(path)) as handle:
        torch.save(obj, handle)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O with atomic writes and ``weights_only=True`` reads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise DrnetTypeError(f"{type(self).__name__} takes no storage_options, got "
                                 f"{storage_options!r}")
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        from drnet.models.checkpoint_files import read_checkpoint_object

        return read_checkpoint_object(path, map_location=map_location)
