"""A model's checkpoint layout, declared as data: what loading needs to know beyond the keys.

Every drnet model declares one (``model.checkpoint_layout``); the loader
(:mod:`drnet.models.weights`) reads nothing else about the model, and a plain torch module has
the empty layout (load strictly, adapt nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class CheckpointLayout:
    """Which parts of a state dict the loader treats specially."""

    first_conv: str | None = None  # its weight is adapted to another in_chans
    classifier: tuple[str, ...] = ()  # prefixes that depend on num_classes
    unused: tuple[str, ...] = ()  # prefixes a checkpoint may hold that the model drops silently
    derived: tuple[str, ...] = ()  # keys the model rebuilds itself: a checkpoint may omit them


def checkpoint_layout(model: nn.Module) -> CheckpointLayout:
    """``model``'s declared layout, or the empty one for a module that declares none."""
    layout = getattr(model, "checkpoint_layout", None)
    return layout if isinstance(layout, CheckpointLayout) else CheckpointLayout()
