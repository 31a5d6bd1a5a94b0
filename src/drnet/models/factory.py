"""``create_model``: name -> registry entry -> builder, then weights and feature extraction."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from drnet.models.base import Backbone
from drnet.models.features import FeatureListNet
from drnet.models.pretrained import PretrainedWeights, resolve_pretrained
from drnet.models.registry import get_entry
from drnet.models.weights import load_pretrained


def create_model(name: str, *, pretrained: bool | str | os.PathLike | None = None,
                 features_only: bool = False, out_indices: Sequence[int] | None = None,
                 **kwargs: Any) -> nn.Module:
    """Build a registered model (timm-style).

    Common arguments: ``num_classes``, ``in_chans``, ``output_stride`` (8/16/32 for ResNets),
    ``norm_layer``; ResNets also take ``dilations`` (one per stage) and ``multi_grid``.
    ``pretrained`` is ``True`` (default tag), a tag (see :func:`list_pretrained`), a URL or a
    local ``.pth``/``.safetensors`` file. ``features_only=True`` returns a backbone whose
    forward gives the stage maps listed in ``feature_info`` (``out_indices`` selects them).
    """
    entry = get_entry(name)
    weights = resolve_pretrained(name, pretrained)
    if isinstance(weights, PretrainedWeights):
        kwargs = {"num_classes": weights.num_classes, **weights.overrides, **kwargs}
    _check_arguments(name, entry.builder, kwargs)
    model = entry.builder(**kwargs)
    if weights is not None:
        load_pretrained(model, weights)
    if features_only:
        if not isinstance(model, Backbone):
            raise ValueError(f"features_only=True needs a backbone; {name} is a "
                             f"{type(model).__name__}")
        return FeatureListNet(model, out_indices)
    if out_indices is not None:
        raise ValueError("out_indices selects feature maps and needs features_only=True")
    return model


def _check_arguments(name: str, builder: Any, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # forwards the rest to a nested create_model, which checks them
    valid = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(f"{name} got unexpected argument(s) {unknown}; valid: "
                        f"{['pretrained', 'features_only', 'out_indices', *valid]}")
