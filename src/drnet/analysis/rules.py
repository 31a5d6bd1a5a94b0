"""The tracer's state per tensor, and the registry of per-operation rules.

The tracer sees a model's real forward pass as ATen operations (``torch.nn.Conv2d`` runs
``aten.convolution``, ``x += y`` runs ``aten.add_``), so rules keyed by operation cover layers
and plain tensor code alike, in any model. Each rule maps the inputs' :class:`Info` to the
outputs'; :mod:`~drnet.analysis.window_ops` and :mod:`~drnet.analysis.tensor_ops` hold them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from drnet.analysis import layout as L
from drnet.analysis.axis import Axis, union
from drnet.errors import DrnetError

aten = torch.ops.aten
Axes = tuple[Axis, Axis]  # rows, columns


@dataclass(frozen=True)
class Info:
    """What the tracer knows about one tensor: where its image axes are, and their fields.

    ``axes`` maps an *origin* (``"input"``, or a stage whose input was tagged) to the
    (rows, columns) fields measured from that origin.
    """

    layout: L.Layout
    axes: dict[str, Axes] = field(default_factory=dict)

    def map(self, rows: Callable[[Axis], Axis], cols: Callable[[Axis], Axis],
            layout: L.Layout | None = None) -> Info:
        return Info(self.layout if layout is None else layout,
                    {o: (rows(h), cols(w)) for o, (h, w) in self.axes.items()})

    def along(self, names: set[str], change: Callable[[Axis, int], Axis],
              layout: L.Layout | None = None) -> Info:
        """Apply ``change(axis, positions)`` to the image axes ``names``, keep the others."""
        counts = {n: L.count(self.layout, n) for n in L.SPATIAL}

        def on(name: str) -> Callable[[Axis], Axis]:
            return (lambda a: change(a, counts[name])) if name in names else (lambda a: a)
        return self.map(on("h"), on("w"), layout)

    def pool(self, names: set[str], layout: L.Layout | None = None) -> Info:
        """Every output reads all positions of image axes ``names``."""
        return self.along(names, Axis.pooled, layout)


@dataclass(frozen=True)
class Step:
    """The result of one rule: new infos for output tensors, and a row for the layer table."""

    outputs: list[tuple[Tensor, Info | None]]  # None: no longer depends on the input
    op: str | None = None  # set when the operation is worth a row (windows, merges, pooling)
    params: dict[str, tuple[int, int]] = field(default_factory=dict)


class UnsupportedOperation(DrnetError, ValueError):  # noqa: N818  (mirrors the Python builtin's name)
    """Raised by a rule for an operation it cannot describe; the tracer adds the module name."""


def first(infos: Sequence[Info | None], what: str) -> Info:
    """The info of an operation's main input (e.g. a convolution's image, not its weight)."""
    if any(i is not None for i in infos[1:]):
        raise UnsupportedOperation(f"a {what} whose weights or other inputs are computed from "
                                   "the image")
    if infos[0] is None:
        raise UnsupportedOperation(f"a {what} of a constant with image-dependent arguments")
    return infos[0]


Rule = Callable[[Any, dict[str, Any], list[Tensor], list["Info | None"]], Step]
RULES: dict[Any, Rule] = {}


def rule(*packets: Any) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for packet in packets:
            RULES[packet] = fn
        return fn
    return register


def bind(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Arguments by name, defaults filled in, from the operator's schema."""
    bound = {}
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args):
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
    return bound


def merge(infos: Sequence[Info]) -> dict[str, Axes]:
    """Fields of an output computed from several tracked inputs: per origin, the union."""
    merged: dict[str, Axes] = {}
    origins = dict.fromkeys(o for info in infos for o in info.axes)  # ordered, unique
    for origin in origins:
        have = [info for info in infos if origin in info.axes]
        merged[origin] = tuple(  # type: ignore[assignment]
            union([info.axes[origin][i] for info in have],
                  [L.count(info.layout, name) for info in have])
            for i, name in enumerate(L.SPATIAL))
    return merged


def flat_tensors(values: Any) -> list[Tensor]:
    """Tensors among (nested lists, tuples and dicts of) values, in order."""
    out: list[Tensor] = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, list | tuple):
            out.extend(flat_tensors(v))
        elif isinstance(v, Mapping):
            out.extend(flat_tensors(v.values()))
    return out


# Operations whose output does not depend on the values of their tracked inputs.
UNTRACKED = {aten.empty_like, aten.zeros_like, aten.ones_like, aten.full_like, aten.rand_like,
             aten.randn_like, aten.new_empty, aten.new_zeros, aten.new_ones, aten.new_full,
             aten.new_empty_strided, aten.fill_, aten.zero_, aten.normal_, aten.uniform_,
             aten.bernoulli_, aten.random_, aten.detach_}

POINTWISE = "pointwise"  # key of the rule for ops PyTorch tags as pointwise


# Elementwise activations that PyTorch does not tag as pointwise (torch 2.14).
_ALSO_POINTWISE = {"hardswish", "gelu", "mish", "_prelu_kernel", "log_sigmoid_forward",
                   "rrelu_with_noise", "_conj", "positive"}


def find_rule(func: Any) -> Rule | None:
    packet = func.overloadpacket
    if packet in RULES:
        return RULES[packet]
    name = packet.__name__.rstrip("_")
    twin = getattr(torch.ops.aten, name, None)  # relu_ -> relu
    if torch.Tag.pointwise in func.tags or name in _ALSO_POINTWISE or (
            twin is not None and torch.Tag.pointwise in twin.default.tags):
        return RULES[POINTWISE]
    return None
