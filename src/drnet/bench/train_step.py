"""One training step (forward, cross-entropy, backward, SGD) as ``drnet bench`` times it."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def make_train_step(model: nn.Module, x: Tensor, target: Tensor, *,
                    autocast_dtype: torch.dtype | None = None) -> Callable[[], float]:
    """A closure running one SGD step of ``model`` on ``(x, target)``; returns the loss.

    ``autocast_dtype`` (bf16/fp16) runs the forward under ``torch.autocast`` with the loss in
    fp32, the usual mixed-precision recipe (fp16 without a gradient scaler: timing only).
    """
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                                momentum=0.9)
    device_type = x.device.type

    def step() -> float:
        with torch.autocast(device_type, dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None):
            out = model(x)
        loss = F.cross_entropy(out.float(), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def random_target(output_shape: torch.Size, num_classes: int, device: torch.device,
                  seed: int = 0) -> Tensor:
    """Class indices for a (N, C) or (N, C, H, W) output: (N,) or (N, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    shape = (output_shape[0], *output_shape[2:])
    return torch.randint(0, num_classes, shape, generator=gen).to(device)
