"""Rules for operations that combine or rearrange tensors without moving pixels.

Elementwise ops and concatenations take the union of their inputs' fields (a residual sum reads
what either branch reads); reductions, softmax and matrix products over an image axis make
every output read all its positions (global pooling, a linear head on flattened features);
reshapes and permutes only move the image axes between dimensions (see :mod:`.layout`).
"""

from __future__ import annotations

import torch

from drnet.analysis import layout as L
from drnet.analysis.rules import (
    POINTWISE,
    Info,
    Step,
    UnsupportedOperation,
    first,
    flat_tensors,
    merge,
    rule,
)

aten = torch.ops.aten


@rule(aten.cat, aten.stack)
def _cat(func, a, outs, infos) -> Step:
    tracked = [i for i in infos if i is not None]
    out, dim = outs[0], a["dim"]
    stack = func.overloadpacket is aten.stack
    base = tracked[0].layout
    if stack:
        dim %= out.dim()
        base = (*base[:dim], (("", 1),), *base[dim:])
    dim %= out.dim()
    if L.names_in(base, [dim]):
        raise UnsupportedOperation("concatenating along an image axis")
    try:
        new_layout = L.resize(base, out.shape)
    except L.LayoutError as err:
        raise UnsupportedOperation(str(err)) from None
    info = Info(new_layout, merge(tracked))
    return Step([(out, info)], "cat" if len(tracked) > 1 else None)


@rule(POINTWISE)
def _elementwise(func, a, outs, infos) -> Step:
    """Pointwise ops (tagged by PyTorch), including residual sums and attention products."""
    tracked = [i for i in infos if i is not None]
    out = outs[0]
    new_layout = L.broadcast([i.layout for i in tracked], out.shape)
    info = Info(new_layout, merge(tracked))
    op = func.overloadpacket.__name__.rstrip("_") if len(tracked) > 1 else None
    return Step([(t, info) for t in outs if t.shape == out.shape], op)


@rule(aten.native_batch_norm, aten._native_batch_norm_legit, aten.native_layer_norm,
      aten._native_batch_norm_legit_no_training, aten.native_group_norm, aten.native_dropout)
def _per_pixel(func, a, outs, infos) -> Step:
    # Normalisation counts as per pixel: its statistics are treated as constants, as a trained
    # BatchNorm's are in eval mode (design decision; GroupNorm couples positions only through
    # statistics).
    info = first(infos, "normalisation")
    return Step([(outs[0], Info(L.resize(info.layout, outs[0].shape), info.axes))])


_REDUCTIONS = (aten.mean, aten.sum, aten.amax, aten.amin, aten.max, aten.min, aten.var,
               aten.std, aten.logsumexp, aten.prod, aten.argmax, aten.argmin, aten.norm)


@rule(*_REDUCTIONS)
def _reduction(func, a, outs, infos) -> Step:
    info, x = first(infos, "reduction"), a["self"]
    dims = a.get("dim")
    dims = list(range(x.dim())) if dims is None or dims == [] else (
        [dims] if isinstance(dims, int) else list(dims))
    keepdim = bool(a.get("keepdim", False))
    names = L.names_in(info.layout, [d % x.dim() for d in dims])
    new = info.pool(names, L.reduce(info.layout, dims, keepdim))
    return Step([(t, new) for t in outs if t.dim() == len(new.layout)],
                func.overloadpacket.__name__ if names else None)


@rule(aten._softmax, aten._log_softmax)
def _softmax(func, a, outs, infos) -> Step:
    info = first(infos, "softmax")
    names = L.names_in(info.layout, [a["dim"] % a["self"].dim()])
    return Step([(outs[0], info.pool(names))], "softmax" if names else None)


@rule(aten.mm, aten.addmm, aten.bmm, aten.baddbmm)
def _matmul(func, a, outs, infos) -> Step:
    """(..., m, k) @ (..., k, n): the k dimension is summed over, so its image axes pool."""
    packet = func.overloadpacket
    left = a["mat1"] if packet is aten.addmm else a["batch1"] if packet is aten.baddbmm \
        else a["self"]
    right = a["mat2"] if "mat2" in a else a["batch2"]
    infos_by_id = {id(t): i for t, i in zip(flat_tensors(a.values()), infos, strict=True)}
    li, ri = infos_by_id.get(id(left)), infos_by_id.get(id(right))
    pooled = []
    for info, dim in ((li, -1), (ri, -2)):
        if info is not None:
            names = L.names_in(info.layout, [len(info.layout) + dim])
            pooled.append(info.pool(names))
    out = outs[0]
    batch = (li or ri).layout[:-2]
    rows = li.layout[-2] if li is not None else (("", int(out.shape[-2])),)
    cols = ri.layout[-1] if ri is not None else (("", int(out.shape[-1])),)
    new_layout = (*batch, rows, cols)
    bias = infos_by_id.get(id(a["self"])) if packet in (aten.addmm, aten.baddbmm) else None
    sources = pooled + ([bias] if bias is not None else [])
    info = Info(new_layout, merge(sources))
    any_pooled = any(L.names_in(i.layout, [len(i.layout) + d]) for i, d in ((li, -1), (ri, -2))
                     if i is not None)
    return Step([(out, info)], "linear" if any_pooled else None)


_VIEWS = (aten.view, aten._unsafe_view, aten.reshape, aten._reshape_alias, aten.view_copy,
          aten.squeeze, aten.unsqueeze, aten.flatten, aten.unflatten)
_SAME = (aten.alias, aten.detach, aten.clone, aten._to_copy, aten.lift_fresh,
         aten.lift_fresh_copy, aten.contiguous)


@rule(*_VIEWS, *_SAME, aten.as_strided, aten.as_strided_)
def _reshape(func, a, outs, infos) -> Step:
    info, out = first(infos, "reshape"), outs[0]
    if func.overloadpacket in (aten.as_strided, aten.as_strided_) and \
            tuple(out.shape) != tuple(a["self"].shape):
        raise UnsupportedOperation("as_strided with a new shape")
    try:
        new_layout = L.reshape(info.layout, out.shape)
    except L.LayoutError as err:
        raise UnsupportedOperation(str(err)) from None
    return Step([(out, Info(new_layout, info.axes))])


@rule(aten.permute, aten.transpose, aten.t)
def _permute(func, a, outs, infos) -> Step:
    info = first(infos, "permute")
    n = len(info.layout)
    if func.overloadpacket is aten.permute:
        order = list(a["dims"])
    else:
        d0, d1 = (a["dim0"] % n, a["dim1"] % n) if "dim0" in a else (0, n - 1)
        order = list(range(n))
        order[d0], order[d1] = order[d1], order[d0]
    return Step([(outs[0], Info(L.permute(info.layout, order), info.axes))])


@rule(aten.expand)
def _expand(func, a, outs, infos) -> Step:
    info, out = first(infos, "broadcast (expand)"), outs[0]
    extra = out.dim() - len(info.layout)
    padded = (*L.anonymous(out.shape[:extra]), *info.layout)
    spread = {n for d, atoms in enumerate(padded) for n, size in atoms
              if n and size == 1 and out.shape[d] != 1}
    layout = tuple(atoms if out.shape[d] == L.product(atoms) else (("", int(out.shape[d])),)
                   for d, atoms in enumerate(padded))
    return Step([(out, info.pool(spread, layout))])


@rule(aten.copy_)
def _copy(func, a, outs, infos) -> Step:
    dst, src_info = a["self"], infos[1]
    if dst._is_view():
        raise UnsupportedOperation("writing into a slice of another tensor")
    if src_info is None:
        return Step([(dst, None)])  # overwritten by a constant
    return Step([(dst, Info(L.resize(src_info.layout, dst.shape), src_info.axes))])
