"""Speed and memory options of the segmentation and classification tasks: channels_last and
per-stage activation checkpointing for training, and drnet's fast inference path for
``predict``. (Detection keeps torchvision's own handling: its models take lists of images.)

Both training options keep parameter names and state-dict keys, so checkpoints written with
them load without them and the other way round. Mixed precision is Lightning's own
(``--trainer.precision bf16-mixed``: autocast on the CPU and the GPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from drnet.fast import FastInference, enable_checkpointing, optimize_for_inference

Checkpointing = str | Sequence[str] | None


def prepare_for_training(model: nn.Module, *, channels_last: bool,
                         checkpointing: Checkpointing) -> nn.Module:
    """``model`` in place: weights in channels_last (convolutions then run NHWC end to end, the
    layout oneDNN and cuDNN prefer) and ``checkpointing`` stages recomputed in the backward pass
    (``"all"``, ``"dilated"`` or stage names; see :func:`drnet.fast.enable_checkpointing`)."""
    if checkpointing is not None:
        enable_checkpointing(model, checkpointing)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


class Predictor:
    """Builds the fast inference copy of a task's model once per ``predict`` run (the weights
    may have changed since the last one) and hands it out; ``fast=False`` uses the model as it
    is, in eval mode."""

    def __init__(self, fast: bool, dtype: str | None) -> None:
        if not fast and dtype not in (None, "fp32"):
            raise ValueError(f"predict_dtype={dtype!r} needs fast_predict=True (the fast path "
                             f"is what casts the model)")
        self.fast = fast
        self.dtype = dtype
        self._model: FastInference | None = None

    def start(self, model: nn.Module) -> None:
        self._model = optimize_for_inference(model, dtype=self.dtype) if self.fast else None

    def stop(self) -> None:
        self._model = None

    def __call__(self, model: nn.Module) -> nn.Module:
        return self._model if self._model is not None else model
