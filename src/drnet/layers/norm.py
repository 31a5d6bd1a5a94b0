"""Normalisation layer factory: one place that turns a name into a norm-layer constructor."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from drnet.errors import DrnetValueError

NormLayer = Callable[[int], nn.Module]


class GroupNorm(nn.GroupNorm):
    """GroupNorm that picks its group count from the channel count (32 where it divides).

    DRN stages have 16 and 32 channels, so a fixed 32 groups would not fit every layer.
    """

    def __init__(self, num_channels: int, max_groups: int = 32, eps: float = 1e-5) -> None:
        super().__init__(math.gcd(max_groups, num_channels), num_channels, eps=eps)


_NORMS: dict[str, NormLayer] = {
    "batchnorm": nn.BatchNorm2d,
    "syncbatchnorm": nn.SyncBatchNorm,
    "frozenbatchnorm": FrozenBatchNorm2d,
    "groupnorm": GroupNorm,
}
_ALIASES = {"bn": "batchnorm", "syncbn": "syncbatchnorm", "frozenbn": "frozenbatchnorm",
            "gn": "groupnorm"}


def get_norm_layer(norm: str | NormLayer | None = "batchnorm") -> NormLayer:
    """Return a constructor ``f(num_channels) -> nn.Module`` for ``norm``.

    ``norm`` is a name (``batchnorm``/``bn``, ``syncbatchnorm``/``syncbn``,
    ``frozenbatchnorm``/``frozenbn``, ``groupnorm``/``gn``, optionally ``gn16`` for 16 groups),
    a callable (returned unchanged) or ``None`` (BatchNorm2d, as in torchvision).
    """
    if norm is None:
        return nn.BatchNorm2d
    if callable(norm):
        return norm
    key = norm.lower().replace("_", "").replace("-", "")
    if key.startswith("gn") and key[2:].isdigit():
        return partial(GroupNorm, max_groups=int(key[2:]))
    key = _ALIASES.get(key, key)
    if key not in _NORMS:
        valid = sorted([*_NORMS, *_ALIASES, "gn<groups>"])
        raise DrnetValueError(f"norm_layer must be one of {valid} or a callable, got {norm!r}")
    return _NORMS[key]
