"""FLOPs of a call (``torch.utils.flop_counter``) and the machine's practical dense ceiling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations of ``fn()`` (a multiply-add counts 2), backward included."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


class CeilingConv:
    """A large 1x1 convolution in channels_last: a plain GEMM that oneDNN/cuDNN run at close to
    the best rate the machine reaches on real layers (the issue's "practical peak")."""

    def __init__(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 channels: int = 1024, size: int = 64) -> None:
        self.conv = nn.Conv2d(channels, channels, 1, bias=False, device=device, dtype=dtype)
        self.conv = self.conv.eval().to(memory_format=torch.channels_last)
        self.x = torch.randn(1, channels, size, size, device=device, dtype=dtype).contiguous(
            memory_format=torch.channels_last)
        self.flops = 2 * channels * channels * size * size

    def __call__(self) -> torch.Tensor:
        with torch.inference_mode():
            return self.conv(self.x)


class CeilingMatmul:
    """A large square fp32 matrix product (sgemm): the machine's dense fp32 rate with no
    convolution around it, the other ceiling ``drnet bench`` reports."""

    def __init__(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 size: int = 2048) -> None:
        self.a = torch.randn(size, size, device=device, dtype=dtype)
        self.b = torch.randn(size, size, device=device, dtype=dtype)
        self.flops = 2 * size**3

    def __call__(self) -> torch.Tensor:
        with torch.inference_mode():
            return self.a @ self.b
