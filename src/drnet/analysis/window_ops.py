"""Rules for operations that move pixels: convolutions, pooling, interpolation, padding, slicing.

Each becomes :meth:`Axis.window` (a kernel, stride, dilation and padding: design.md §5),
:meth:`Axis.shift` or :meth:`Axis.resampled` (any layer described by the input window each
output position reads) on both image axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from drnet.analysis import layout as L
from drnet.analysis.rules import Info, Step, UnsupportedOperation, first, rule

aten = torch.ops.aten


def _pair(value: Any, default: tuple[int, int] | None = None) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    value = [int(v) for v in value]
    if not value and default is not None:
        return default
    return (value[0], value[0]) if len(value) == 1 else (value[0], value[1])


def _image_info(infos: list[Info | None], what: str) -> Info:
    """The main input's info, checking that its last two dimensions are the image axes."""
    info = first(infos, what)
    lay = info.layout
    for dim, name in ((-2, "h"), (-1, "w")):
        where = L.position(lay, name)
        if where is not None and (where != len(lay) + dim or not L.is_pure(lay, where, name)):
            raise UnsupportedOperation(f"{what} over dimensions that are not the image axes "
                                       f"(layout {lay})")
    return info


def _window_step(info: Info, out: Tensor, op: str, kernel: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int],
                 padding: tuple[int, int]) -> Step:
    new = info.map(lambda a: a.window(kernel[0], stride[0], dilation[0], padding[0]),
                   lambda a: a.window(kernel[1], stride[1], dilation[1], padding[1]),
                   L.resize(info.layout, out.shape))
    return Step([(out, new)], op, {"kernel": kernel, "stride": stride, "dilation": dilation,
                                   "padding": padding})


def _resample_step(info: Info, x: Tensor, out: Tensor, op: str,
                   windows: Callable[[int, int, int], tuple[list[int], list[int]]]) -> Step:
    """A layer described by the input window each output position reads, per axis."""
    sizes = [(x.shape[d], out.shape[d], d) for d in (-2, -1)]
    spans = [windows(n_in, n_out, d) for n_in, n_out, d in sizes]
    new = info.map(lambda a: a.resampled(*spans[0], sizes[0][0], sizes[0][1]),
                   lambda a: a.resampled(*spans[1], sizes[1][0], sizes[1][1]),
                   L.resize(info.layout, out.shape))
    return Step([(out, new)], op)


@rule(aten.convolution)
def _convolution(func, a, outs, infos) -> Step:
    x, weight, out = a["input"], a["weight"], outs[0]
    if weight.dim() != 4:
        raise UnsupportedOperation(f"{weight.dim() - 2}-d convolution (only 2-d is supported)")
    info = _image_info(infos, "convolution")
    kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
    stride, padding, dilation = _pair(a["stride"]), _pair(a["padding"]), _pair(a["dilation"])
    if not a["transposed"]:
        return _window_step(info, out, "conv2d", kernel, stride, dilation, padding)

    def windows(n_in: int, n_out: int, d: int) -> tuple[list[int], list[int]]:
        # Output o receives input i when o = i*s - p + t*dil for a tap t in [0, k).
        k, s, p, dil = kernel[d], stride[d], padding[d], dilation[d]
        starts = [min(max(-((-(o + p - (k - 1) * dil)) // s), 0), n_in - 1)  # ceil division
                  for o in range(n_out)]
        ends = [min(max((o + p) // s, 0), n_in - 1) for o in range(n_out)]
        return starts, ends
    return _resample_step(info, x, out, "conv_transpose2d", windows)


@rule(aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d)
def _pool(func, a, outs, infos) -> Step:
    kernel = _pair(a["kernel_size"])
    dilation = _pair(a.get("dilation", 1))
    info = _image_info(infos, "pooling")
    op = "avg_pool2d" if func.__name__.startswith("avg") else "max_pool2d"
    return _window_step(info, outs[0], op, kernel, _pair(a["stride"], kernel), dilation,
                        _pair(a["padding"]))


@rule(aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d)
def _adaptive_pool(func, a, outs, infos) -> Step:
    def windows(n_in: int, n_out: int, d: int) -> tuple[list[int], list[int]]:
        # PyTorch's adaptive windows: [floor(u*in/out), ceil((u+1)*in/out)).
        return ([u * n_in // n_out for u in range(n_out)],
                [-(-(u + 1) * n_in // n_out) - 1 for u in range(n_out)])
    op = "adaptive_" + ("avg" if "avg" in func.__name__ else "max") + "_pool2d"
    return _resample_step(_image_info(infos, "adaptive pooling"), a["self"], outs[0], op,
                          windows)


_UPSAMPLE = {aten.upsample_nearest2d: "nearest", aten._upsample_nearest_exact2d: "nearest-exact",
             aten.upsample_bilinear2d: "bilinear", aten.upsample_bicubic2d: "bicubic"}


@rule(*_UPSAMPLE)
def _upsample(func, a, outs, infos) -> Step:
    mode = _UPSAMPLE[func.overloadpacket]
    x = a.get("input", a.get("self"))
    scales = a.get("scale_factors") or [a.get("scales_h"), a.get("scales_w")]
    align = bool(a.get("align_corners", False))

    def windows(n_in: int, n_out: int, d: int) -> tuple[list[int], list[int]]:
        scale = scales[d] if scales and scales[d] else None
        ratio = 1 / scale if scale else n_in / n_out
        if align:
            ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        starts, ends = [], []
        for u in range(n_out):
            if mode == "nearest":
                first = last = math.floor(u * ratio)
            elif mode == "nearest-exact":
                first = last = math.floor((u + 0.5) * ratio)
            else:
                c = u * ratio if align else max((u + 0.5) * ratio - 0.5, 0.0)
                first, last = math.floor(c), math.floor(c) + 1
                if mode == "bicubic":
                    first, last = first - 1, last + 1
            starts.append(min(max(first, 0), n_in - 1))
            ends.append(min(max(last, 0), n_in - 1))
        return starts, ends
    return _resample_step(_image_info(infos, "interpolation"), x, outs[0],
                          f"upsample_{mode}", windows)


def _image_axis(info: Info, dim: int, what: str) -> str | None:
    """The image axis that dimension ``dim`` is (None for other dimensions)."""
    names = L.names_in(info.layout, [dim])
    if not names:
        return None
    name = names.pop()
    if names or not L.is_pure(info.layout, dim, name):
        raise UnsupportedOperation(f"{what} a dimension that mixes image axes")
    return name


@rule(aten.constant_pad_nd, aten.reflection_pad2d, aten.replication_pad2d,
      aten.reflection_pad1d, aten.replication_pad1d)
def _pad(func, a, outs, infos) -> Step:
    # Reflect/replicate padding copies border pixels; on the unbounded grid of design.md §5
    # that is a shift, like zero padding.
    pads = [int(p) for p in a.get("pad", a.get("padding"))]
    info = first(infos, "padding")
    before = {"h": 0, "w": 0}
    for i in range(len(pads) // 2):
        name = _image_axis(info, len(info.layout) - 1 - i, "padding")
        if name is not None:
            before[name] = pads[2 * i]
    new = info.map(lambda ax: ax.shift(-before["h"]), lambda ax: ax.shift(-before["w"]),
                   L.resize(info.layout, outs[0].shape))
    return Step([(outs[0], new)], "pad" if any(before.values()) else None,
                {"padding": (before["h"], before["w"])})


@rule(aten.slice)
def _slice(func, a, outs, infos) -> Step:
    info, x = first(infos, "slicing"), a["self"]
    dim = a["dim"] % x.dim()
    name = _image_axis(info, dim, "slicing")
    layout = L.resize(info.layout, outs[0].shape)
    if name is None:
        return Step([(outs[0], Info(layout, info.axes))])
    start = a["start"] or 0
    start = min(max(start + x.shape[dim] if start < 0 else start, 0), x.shape[dim])
    step = int(a["step"])
    new = info.along({name}, lambda ax, _: ax.shift(start, step), layout)
    return Step([(outs[0], new)], "slice", {"stride": (step, step)})


@rule(aten.select)
def _select(func, a, outs, infos) -> Step:
    info, x = first(infos, "indexing"), a["self"]
    dim, index = a["dim"] % x.dim(), int(a["index"]) % x.shape[a["dim"]]
    name = _image_axis(info, dim, "indexing")
    layout = tuple(atoms for d, atoms in enumerate(info.layout) if d != dim)
    new = info.along({name} if name else set(), lambda ax, _: ax.shift(index).pooled(1), layout)
    return Step([(outs[0], new)], "select" if name else None)


@rule(aten.split, aten.split_with_sizes, aten.unbind)
def _split(func, a, outs, infos) -> Step:
    info, x = first(infos, "splitting"), a["self"]
    dim = a["dim"] % x.dim()
    if L.names_in(info.layout, [dim]):
        raise UnsupportedOperation("splitting an image axis into pieces")
    kept = info.layout if func.overloadpacket is not aten.unbind else tuple(
        atoms for d, atoms in enumerate(info.layout) if d != dim)
    return Step([(t, Info(L.resize(kept, t.shape), info.axes)) for t in outs])


