"""Convert a pickled checkpoint to ``.safetensors``: a format that cannot carry code at all."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from drnet.atomic_files import atomic_write
from drnet.errors import DrnetValueError
from drnet.models.checkpoint_files import PREPROCESSING_KEY, CheckpointError, read_checkpoint_file
from drnet.models.sources import file_sha256


def to_safetensors(path: str | os.PathLike, output: str | os.PathLike | None = None, *,
                   overwrite: bool = False) -> Path:
    """Write ``path``'s state dict (unwrapped from ``{"state_dict": ...}`` and the like, keys
    unchanged) to ``output`` (default: same name, ``.safetensors``), atomically, and check that
    it reads back equal. The source file's SHA-256 and the preprocessing it records (a
    ``drnet fit`` checkpoint's normalisation and classes) are kept in the header metadata."""
    from safetensors.torch import load, save

    path = Path(path)
    output = Path(output) if output is not None else path.with_suffix(".safetensors")
    if output.resolve() == path.resolve():
        raise DrnetValueError(f"the output {output} would overwrite the checkpoint itself")
    if output.exists() and not overwrite:
        raise DrnetValueError(f"{output} exists; pass --force (overwrite=True) to replace it")
    contents = read_checkpoint_file(path)
    state = contents.state
    # Shared or non-contiguous storage (tied weights, views) cannot be written as is.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    meta = {"format": "pt", "converted_from": path.name, "source_sha256": file_sha256(path)}
    if contents.preprocessing is not None:
        meta[PREPROCESSING_KEY] = contents.preprocessing.to_json()
    data = save(tensors, metadata=meta)
    back = load(data)  # the very bytes written below
    differ = sorted(k for k in tensors if k not in back or not _same_bits(back[k], tensors[k]))
    if differ or set(back) != set(tensors):
        raise CheckpointError(f"{output}: the converted tensors do not read back equal to "
                              f"{path} (keys {differ[:5]}); nothing was written")
    with atomic_write(output) as handle:  # whole or not at all, umask-honouring permissions
        handle.write(data)
    return output


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype, shape and bytes (so NaN equals NaN, and -0.0 differs from 0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
