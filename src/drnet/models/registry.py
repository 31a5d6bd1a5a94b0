"""The one model registry: a name maps to a :class:`ModelEntry`, whose builder makes the model."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder (keyword-only arguments), family and default stride."""

    name: str
    builder: Callable[..., nn.Module]
    family: str  # "resnet", "drn", "segmentation", ...
    default_output_stride: int


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add ``entry``; a second model under the same name is refused, never shadowed."""
    if entry.name in _REGISTRY:
        raise DrnetValueError(f"a model named {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def get_entry(name: str) -> ModelEntry:
    """The entry for ``name``; an unknown name lists the closest registered ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f"closest: {', '.join(close)}" if close else "see drnet.list_models()"
        raise DrnetValueError(f"unknown model {name!r}; {hint}") from None


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern`` (e.g. ``"drn_d_*"``), in natural
    order (``drn_d_22`` before ``drn_d_105``)."""
    return sorted(
        (name for name, entry in _REGISTRY.items()
         if fnmatch.fnmatchcase(name, pattern) and (family is None or entry.family == family)),
        key=_natural_key,
    )


def _natural_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
