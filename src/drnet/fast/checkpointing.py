"""Per-stage activation checkpointing for training: keep each stage's input, recompute the rest.

At output stride 8 the dilated stages hold most of the activation memory (their maps never
shrink), so recomputing them in the backward pass trades one extra forward of those stages for
most of their memory. Batch norm must not count a recomputed forward as a second batch: its
running statistics are frozen while a stage is recomputed.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from drnet.errors import DrnetTypeError, DrnetValueError


class CheckpointedStage(nn.Sequential):
    """An ``nn.Sequential`` (same children, same names) whose activations are recomputed in the
    backward pass instead of stored, when it runs with gradients in training mode."""

    def __init__(self, stage: nn.Sequential) -> None:
        super().__init__(OrderedDict(stage.named_children()))
        self.training = stage.training

    def forward(self, x: Tensor) -> Tensor:
        needs_grad = x.requires_grad or any(p.requires_grad for p in self.parameters())
        if not (self.training and torch.is_grad_enabled() and needs_grad):
            return super().forward(x)
        return checkpoint(super().forward, x, use_reentrant=False,
                          context_fn=lambda: (contextlib.nullcontext(), _frozen_bn_stats(self)))


@contextlib.contextmanager
def _frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """BN with momentum 0 leaves its running statistics as they are (the recompute pass)."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.training]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None
              else None) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def stage_names(model: nn.Module) -> tuple[str, ...]:
    """Qualified names of ``model``'s trunk stages (``layer1``..., or ``backbone.layer1``...)."""
    if hasattr(model, "trunk_names"):
        return tuple(n for n in model.trunk_names if isinstance(getattr(model, n), nn.Sequential))
    backbone = getattr(model, "backbone", None)
    if backbone is not None and hasattr(backbone, "trunk_names"):
        return tuple(f"backbone.{n}" for n in stage_names(backbone))
    raise DrnetTypeError("model must be a drnet backbone or segmentation model (with trunk_names "
                         f"or a backbone), got {type(model).__name__}")


def enable_checkpointing(model: nn.Module, stages: str | Sequence[str] = "all") -> list[str]:
    """Checkpoint the given trunk stages of ``model`` in place; return their qualified names.

    ``stages``: ``"all"`` (every stage), ``"dilated"`` (stages whose convs are dilated, where
    output stride 8 keeps maps large), or stage names (``["layer3", "layer4"]``; a segmentation
    model's names may omit ``backbone.``). Parameters and state-dict keys are unchanged.
    """
    available = stage_names(model)
    if stages == "all":
        chosen = list(available)
    elif stages == "dilated":
        chosen = [n for n in available if _dilated(model.get_submodule(n))]
    elif isinstance(stages, str):
        raise DrnetValueError("stages must be 'all', 'dilated' or a list of stage names, got "
                              f"{stages!r}")
    else:
        short = {n.removeprefix("backbone."): n for n in available}
        unknown = [s for s in stages if s not in available and s not in short]
        if unknown:
            raise DrnetValueError(f"unknown stage(s) {unknown} for checkpointing; stages of "
                                  f"{type(model).__name__}: {list(short)}")
        chosen = [s if s in available else short[s] for s in stages]
    for name in chosen:
        stage = model.get_submodule(name)
        if not isinstance(stage, CheckpointedStage):
            model.set_submodule(name, CheckpointedStage(stage))
    return chosen


Checkpointing = str | Sequence[str] | None


def prepare_for_training(model: nn.Module, *, channels_last: bool,
                         checkpointing: Checkpointing) -> nn.Module:
    """``model`` in place: weights in channels_last (convolutions then run NHWC end to end, the
    layout oneDNN and cuDNN prefer) and ``checkpointing`` stages recomputed in the backward pass
    (``"all"``, ``"dilated"`` or stage names; see :func:`drnet.fast.enable_checkpointing`)."""
    if checkpointing:
        enable_checkpointing(model, checkpointing)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _dilated(stage: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) and max(m.dilation) > 1 for m in stage.modules())
