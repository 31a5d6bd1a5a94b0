"""Read checkpoint files safely: the tensors inside the common wrappers, and errors that name the
file.

Every read uses ``weights_only=True``: a checkpoint is data, and a file that would run code on
load is refused. Files may be ``.pth``/``.pt``/``.ckpt`` (pickled tensors, possibly wrapped in
``{"state_dict": ...}`` or ``{"model": ...}``) or ``.safetensors``. Fitting the tensors to a
model is :mod:`drnet.models.weights`' job.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from drnet.errors import DrnetError
from drnet.models.preprocessing import Preprocessing

_WRAPPERS = ("state_dict", "model", "model_state_dict", "module")


class CheckpointError(DrnetError, ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message says why."""


@dataclass
class Checkpoint:
    """A checkpoint file's tensors and, where it records it, the preprocessing they expect
    (``drnet fit`` checkpoints, ``.safetensors`` written by drnet)."""

    state: dict[str, Tensor]
    preprocessing: Preprocessing | None = None


PREPROCESSING_KEY = "preprocessing"  # top-level checkpoint key / safetensors metadata key


def read_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a state dict from ``path`` with ``weights_only=True`` and unwrap it."""
    return read_checkpoint_file(path).state


def read_checkpoint_file(path: str | os.PathLike) -> Checkpoint:
    """The state dict of ``path`` (``weights_only=True``, unwrapped) and the preprocessing it
    records, if any."""
    path = Path(path)
    meta: Any = None
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
        try:
            from safetensors import safe_open
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
            with safe_open(str(path), "pt") as handle:
                text = (handle.metadata() or {}).get(PREPROCESSING_KEY)
            meta = json.loads(text) if text else None
        except Exception as err:  # a bad header, a truncated file
            raise CheckpointError(_unreadable(path, err)) from None
    else:
        obj = read_checkpoint_object(path)
        meta = obj.get(PREPROCESSING_KEY) if isinstance(obj, dict) else None
    state = unwrap_state_dict(obj, str(path))
    try:
        preprocessing = Preprocessing.from_dict(meta) if isinstance(meta, dict) else None
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its {PREPROCESSING_KEY!r} entry is malformed "
                              f"({err})") from None
    return Checkpoint(state, preprocessing)


def read_checkpoint_object(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file: a checkpoint
    that would run code when unpickled is refused, a broken one is reported as such."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()
        if not any("GLOBAL" in line or "global" in line for line in first):
            raise CheckpointError(_unreadable(path, err)) from None  # not a pickle at all
        reason = next((line for line in first if "GLOBAL" in line or "Unsupported" in line),
                      first[0] if first else "")
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain containers, "
            f"which could run code when unpickled (loaded with weights_only=True). {reason}"
        ) from None
    except Exception as err:  # truncated zip, not a checkpoint at all
        raise CheckpointError(_unreadable(path, err)) from None


def _unreadable(path: Path, err: Exception) -> str:
    if path.is_file() and path.stat().st_size == 0:
        return f"{path} is empty (0 bytes): not a checkpoint (an interrupted copy or download?)"
    detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return (f"{path} is not a readable checkpoint (.pth/.pt/.ckpt or .safetensors): "
            f"{type(err).__name__}: {detail}")


def unwrap_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, Tensor]:
    """Find the tensor dict inside common wrappers (Lightning, torchvision references, DDP)."""
    while isinstance(obj, dict) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not _is_state_dict(obj):
        kind = type(obj).__name__
        keys = list(obj)[:8] if isinstance(obj, dict) else []
        raise CheckpointError(
            f"{source} holds no state dict (a dict of tensors, possibly under one of "
            f"{list(_WRAPPERS)}); found a {kind} with keys {keys}"
        )
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


def _is_state_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(k, str) for k in obj) and any(
        isinstance(v, Tensor) for v in obj.values())
