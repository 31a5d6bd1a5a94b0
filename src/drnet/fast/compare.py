"""How close two outputs are: the one measure every fast path, export and twin is checked with."""

from __future__ import annotations

import torch
from torch import Tensor


def relative_error(actual: Tensor, expected: Tensor) -> float:
    """max |actual - expected| / max |expected|, in float64 (tolerances are stated on this)."""
    actual, expected = actual.detach().double().cpu(), expected.detach().double().cpu()
    return float((actual - expected).abs().max()
                 / expected.abs().max().clamp_min(torch.finfo(torch.float64).tiny))
