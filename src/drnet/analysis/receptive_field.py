"""Analytic receptive field of every layer and stage of any CNN (design.md §5).

The numbers come from tracing the model's real forward pass (:mod:`.tracer`), not from layer
names, so residual sums, concatenations and plain tensor code count, and torchvision models
work like drnet's. Every field is reported per axis (rows, columns) as an :class:`Axis`:
size, effective stride (jump), effective padding, centre and the sampled offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from drnet.analysis.axis import Axis
from drnet.analysis.rules import Axes
from drnet.analysis.tracer import INPUT, input_channels, run_trace, stage_names
from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class LayerRF:
    """The field after one operation that changes it (window, merge of branches, pooling)."""

    name: str  # innermost module that ran the operation ("" = the model's own forward)
    type: str  # its class name
    op: str  # conv2d, max_pool2d, add, cat, mean, linear, ...
    stage: str | None
    shape: tuple[int, ...]  # output shape without the batch dimension
    kernel: tuple[int, int] | None
    stride: tuple[int, int] | None
    dilation: tuple[int, int] | None
    padding: tuple[int, int] | None
    rows: Axis | None  # None: the output does not depend on the input
    cols: Axis | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "op": self.op, "stage": self.stage,
                "shape": list(self.shape), "kernel": _pair(self.kernel),
                "stride": _pair(self.stride), "dilation": _pair(self.dilation),
                "padding": _pair(self.padding), **_axes_dict(self.rows, self.cols)}


@dataclass(frozen=True)
class StageRF:
    """The field at a stage's output, in input pixels and relative to earlier stage inputs."""

    name: str
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]
    rows: Axis | None
    cols: Axis | None
    dilations: tuple[int, ...]  # of the stage's own convolutions with kernel > 1
    since: dict[str, Axes]  # stage name -> field measured from that stage's input

    @property
    def local(self) -> Axes | None:
        """Field measured from this stage's own input, at its resolution (for gridding)."""
        return self.since.get(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "in_shape": list(self.in_shape), "shape": list(self.shape),
                "dilations": list(self.dilations), **_axes_dict(self.rows, self.cols)}


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive fields of one model traced at one input size."""

    model: str
    input_size: tuple[int, int]
    in_chans: int
    layers: tuple[LayerRF, ...]
    stages: tuple[StageRF, ...]
    outputs: tuple[tuple[tuple[int, ...], Axes | None], ...]  # each output tensor's field

    def stage(self, name: str) -> StageRF:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r}; stages: {[s.name for s in self.stages]}")

    @property
    def last_spatial_stage(self) -> StageRF:
        """The last stage whose output still has image positions (before global pooling), with
        an exact field."""
        spatial = [s for s in self.stages if all(
            a is not None and not a.is_global and a.exact for a in (s.rows, s.cols))]
        if not spatial:
            raise DrnetValueError(f"{self.model} has no stage with a spatial output")
        return spatial[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input_size": list(self.input_size),
                "in_chans": self.in_chans,
                "stages": [s.to_dict() for s in self.stages],
                "layers": [layer.to_dict() for layer in self.layers],
                "outputs": [{"shape": list(shape), **_axes_dict(*(axes or (None, None)))}
                            for shape, axes in self.outputs]}


def receptive_field(model: nn.Module, input_size: int | Sequence[int] = (224, 224), *,
                    in_chans: int | None = None, stages: Sequence[str] | None = None,
                    name: str | None = None) -> ReceptiveField:
    """Trace ``model`` on one ``input_size`` image and return every layer's and stage's field.

    ``stages`` names the modules reported per stage (default: ``feature_info`` modules, else
    top-level children). ``in_chans`` defaults to the first convolution's input channels.
    Raises :class:`~drnet.analysis.tracer.UnsupportedLayerError` naming the module of an
    operation the tracer has no rule for.
    """
    size = check_input_size(input_size)
    chans = input_channels(model) if in_chans is None else int(in_chans)
    names = stage_names(model, stages)
    trace = run_trace(model, size, chans, names)
    layers = tuple(
        LayerRF(e.module, e.module_type, e.op, e.stage, e.shape, e.params.get("kernel"),
                e.params.get("stride"), e.params.get("dilation"), e.params.get("padding"),
                *(e.axes or (None, None)))
        for e in trace.layers)
    stage_rfs = tuple(
        StageRF(e.name, e.in_shape, e.shape, *(e.axes.get(INPUT) or (None, None)), e.dilations,
                {k: v for k, v in e.axes.items() if k != INPUT})
        for e in trace.stages)
    return ReceptiveField(name or type(model).__name__, size, chans, layers, stage_rfs,
                          tuple(trace.outputs))


def check_input_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``224`` or ``(224, 320)`` -> ``(224, 320)``, refusing anything else."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(n, int) and n >= 1 for n in pair):
        raise DrnetValueError("input_size must be an int or (height, width) of ints >= 1, got "
                              f"{size!r}")
    return pair  # type: ignore[return-value]


def _pair(value: tuple[int, int] | None) -> list[int] | None:
    return None if value is None else list(value)


def _axes_dict(rows: Axis | None, cols: Axis | None) -> dict[str, Any]:
    return {"rows": rows.to_dict() if rows is not None else None,
            "cols": cols.to_dict() if cols is not None else None}
