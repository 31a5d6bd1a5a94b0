"""Space-to-batch execution of runs of blocks that share one dilation (inference only).

A 3x3 conv at dilation d reads only pixels congruent to its output modulo d, so the map splits
into d x d interleaved sub-grids that never mix: moving them into the batch dimension turns every
dilated conv of the run into an undilated one (1x1 convs and pointwise layers commute with the
shuffle). Sizes that d does not divide are padded; the padded positions are zeroed before every
conv that reads neighbours, which is exactly the zero padding the dilated conv saw, so the result
is exact for any input size. On CPUs (oneDNN) dilated convs are already as fast as undilated ones
and the shuffles cost time, so this is off by default; GPUs are where it may win.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import FrozenBatchNorm2d

from drnet.layers import BasicBlock, Bottleneck

_POINTWISE = (nn.BatchNorm2d, FrozenBatchNorm2d, nn.ReLU, nn.Identity, nn.Dropout, nn.Dropout2d)
_CONTAINERS = (nn.Sequential, BasicBlock, Bottleneck)  # forwards known to be pointwise + convs
Run = tuple[int, int, int]  # (first child, one past the last child, dilation)


class SubgridConv2d(nn.Conv2d):
    """The undilated twin of a dilated conv, run on sub-grids; zeroes padded positions first."""

    mask: Tensor | None = None  # set by the enclosing SpaceToBatchStage for one call

    @classmethod
    def from_dilated(cls, conv: nn.Conv2d) -> SubgridConv2d:
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, padding=tuple(
            (k - 1) // 2 for k in conv.kernel_size), groups=conv.groups,
            bias=conv.bias is not None, device="meta")
        new.weight, new.bias = conv.weight, conv.bias  # shared, so state_dict is unchanged
        return new

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x if self.mask is None else x * self.mask)


class SpaceToBatchStage(nn.Sequential):
    """An ``nn.Sequential`` (same children, same names) that runs ``runs`` on sub-grids."""

    def __init__(self, stage: nn.Sequential, runs: list[Run]) -> None:
        super().__init__(OrderedDict(stage.named_children()))
        self.runs = tuple(runs)
        self.training = stage.training
        names = list(self._modules)
        for start, stop, _ in self.runs:
            _swap_convs(self, names[start:stop])

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            raise RuntimeError("space-to-batch stages are for inference; call .eval() first")
        children, done = list(self), 0
        for start, stop, dilation in self.runs:
            for child in children[done:start]:
                x = child(x)
            x = _run_on_subgrids(children[start:stop], x, dilation)
            done = stop
        for child in children[done:]:
            x = child(x)
        return x


def convert_space_to_batch(model: nn.Module) -> list[str]:
    """Turn every plain ``nn.Sequential`` of ``model`` that holds a run of same-dilation
    children into a :class:`SpaceToBatchStage`, in place; return the converted names."""
    found = [(name, runs) for name, m in model.named_modules()
             if type(m) is nn.Sequential and (runs := find_runs(m))]
    for name, runs in found:
        model.set_submodule(name, SpaceToBatchStage(model.get_submodule(name), runs))
    return [name for name, _ in found]


def find_runs(stage: nn.Sequential) -> list[Run]:
    """Maximal runs of children whose neighbour-reading convs all share one dilation > 1."""
    runs: list[Run] = []
    start = last = dilation = None
    for i, child in enumerate([*stage, None]):
        d = _child_dilation(child) if child is not None else 0
        if d is None:  # pointwise: joins any run, starts none
            continue
        if dilation is not None and d != dilation:
            runs.append((start, last + 1, dilation))
            dilation = None
        if d > 1 and dilation is None:
            start, dilation = i, d
        if d > 1:
            last = i
    return runs


def _child_dilation(child: nn.Module) -> int | None:
    """The one dilation of ``child``'s 3x3 (or larger) convs; None if it has none (pointwise);
    1 if it cannot run on sub-grids (strides, mixed dilations, unknown layers)."""
    dilations = set()
    for m in child.modules():
        if type(m) is nn.Conv2d:
            if m.stride != (1, 1) or m.padding_mode != "zeros":
                return 1
            if m.kernel_size == (1, 1):
                if m.padding != (0, 0):
                    return 1
                continue
            d = m.dilation[0]
            same = m.dilation == (d, d) and all(k % 2 for k in m.kernel_size)
            if not same or m.padding != tuple(d * (k - 1) // 2 for k in m.kernel_size):
                return 1
            dilations.add(d)
        elif not isinstance(m, _POINTWISE + _CONTAINERS):
            return 1
    if len(dilations) > 1:
        return 1
    return dilations.pop() if dilations else None


def _swap_convs(module: nn.Module, names: list[str] | None = None) -> None:
    """Replace the neighbour-reading convs among ``module``'s (named) children, recursively."""
    for name, child in list(module.named_children()):
        if names is not None and name not in names:
            continue
        if type(child) is nn.Conv2d and child.kernel_size != (1, 1):
            setattr(module, name, SubgridConv2d.from_dilated(child))
        else:
            _swap_convs(child)


def space_to_batch(x: Tensor, d: int) -> Tensor:
    """(N, C, d*h, d*w) -> (d*d*N, C, h, w): sub-grid (p, q) is batch block p*d + q."""
    n, c, hp, wp = x.shape
    y = x.reshape(n, c, hp // d, d, wp // d, d).permute(3, 5, 0, 1, 2, 4)
    return y.reshape(d * d * n, c, hp // d, wp // d).contiguous(memory_format=_format(x))


def batch_to_space(x: Tensor, d: int) -> Tensor:
    """Inverse of :func:`space_to_batch`."""
    b, c, h, w = x.shape
    y = x.reshape(d, d, b // (d * d), c, h, w).permute(2, 3, 4, 0, 5, 1)
    return y.reshape(b // (d * d), c, h * d, w * d).contiguous(memory_format=_format(x))


def _run_on_subgrids(blocks: list[nn.Module], x: Tensor, d: int) -> Tensor:
    height, width = x.shape[-2:]
    hp, wp = math.ceil(height / d) * d, math.ceil(width / d) * d
    mask = None
    if (hp, wp) != (height, width):
        x = F.pad(x, (0, wp - width, 0, hp - height))
        valid = torch.zeros(1, 1, hp, wp, dtype=x.dtype, device=x.device)
        valid[..., :height, :width] = 1
        mask = space_to_batch(valid, d).repeat_interleave(x.shape[0], dim=0)
    convs = [m for b in blocks for m in b.modules() if isinstance(m, SubgridConv2d)]
    for conv in convs:
        conv.mask = mask
    try:
        y = space_to_batch(x, d)
        for block in blocks:
            y = block(y)
    finally:
        for conv in convs:
            conv.mask = None
    return batch_to_space(y, d)[..., :height, :width]


def _format(x: Tensor) -> torch.memory_format:
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format
