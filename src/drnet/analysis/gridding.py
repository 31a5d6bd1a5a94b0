"""Gridding: the input offsets a network's dilated stages really read, and the holes between.

For each stage, the traced field measured from that stage's own input (at its resolution)
lists the offsets one output reads through every path of the stage (residual and shortcut
paths included). The same is reported cumulatively from the first dilated stage to each later
one, which shows whether the stages that follow fill the holes: DRN's degridding stages
(dilation 2 then 1, no residual) do; a constant-rate stack does not (Yu et al., CVPR 2017,
§4; Wang et al., WACV 2018).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drnet.analysis.axis import Axis
from drnet.analysis.receptive_field import ReceptiveField, StageRF


@dataclass(frozen=True)
class GriddingRow:
    """Offsets read along each axis by a span of stages, at the first stage's input resolution."""

    name: str  # "layer5", or "layer5-layer8" for a span of stages
    stages: tuple[str, ...]
    dilations: tuple[tuple[int, ...], ...]  # per stage: its convs' dilations (kernel > 1)
    rows: Axis
    cols: Axis
    scale: int = 1  # image pixels per pixel of the first stage's input (its input stride)

    @property
    def holes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self.rows.holes(), self.cols.holes()

    @property
    def ok(self) -> bool:
        """No holes along either axis."""
        return not any(self.holes)

    @property
    def coverage(self) -> float:
        """Fraction of the 2-d field that is read (the pattern is rows x cols)."""
        return self.rows.coverage() * self.cols.coverage()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stages": list(self.stages),
                "dilations": [list(d) for d in self.dilations], "coverage": self.coverage,
                "image_pixels_per_offset": self.scale,
                **{axis: {"span": [int(a.lo), int(a.hi)], "offsets": list(a.offsets()),
                          "holes": list(a.holes()), "coverage": a.coverage()}
                   for axis, a in (("rows", self.rows), ("cols", self.cols))}}


@dataclass(frozen=True)
class Gridding:
    """Per-stage and cumulative (from the first dilated stage) sampling patterns of a model."""

    model: str
    stages: tuple[GriddingRow, ...]
    dilated: tuple[GriddingRow, ...]  # first dilated stage, then through each later stage

    @property
    def dilated_part(self) -> GriddingRow | None:
        """The whole dilated part: from the first dilated stage through the last stage."""
        return self.dilated[-1] if self.dilated else None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "stages": [r.to_dict() for r in self.stages],
                "dilated": [r.to_dict() for r in self.dilated]}


def gridding(report: ReceptiveField) -> Gridding:
    """Gridding rows of a traced model (see :func:`~drnet.analysis.receptive_field`).

    Stages whose field is not exact (after interpolation) or not spatial are left out.
    """
    rows = []
    for stage in report.stages:
        axes = stage.local
        if _usable(axes):
            rows.append(GriddingRow(stage.name, (stage.name,), (_dilations(stage),), *axes,
                                    scale=_input_stride(stage)))
    first = next((s for s in report.stages if max(s.dilations, default=1) > 1), None)
    cumulative = []
    if first is not None:
        span: list[StageRF] = []
        for stage in report.stages[report.stages.index(first):]:
            span.append(stage)
            axes = stage.since.get(first.name)
            if _usable(axes):
                name = first.name if stage is first else f"{first.name}-{stage.name}"
                cumulative.append(GriddingRow(name, tuple(s.name for s in span),
                                              tuple(_dilations(s) for s in span), *axes,
                                              scale=_input_stride(first)))
    return Gridding(report.model, tuple(rows), tuple(cumulative))


def _usable(axes: Sequence[Axis] | None) -> bool:
    return axes is not None and all(
        a.exact and not a.is_global and a.support is not None for a in axes)


def _input_stride(stage: StageRF) -> int:
    """Image pixels per pixel of the stage's input: its field's jump from the image over its
    jump from its own input (1 when unknown)."""
    local = stage.local
    if stage.rows is None or stage.rows.jump is None or local is None or not local[0].jump:
        return 1
    return max(int(stage.rows.jump / local[0].jump), 1)


def _dilations(stage: StageRF) -> tuple[int, ...]:
    """The stage's conv dilations (1 when it has no conv with a kernel > 1)."""
    return stage.dilations or (1,)


def describe_offsets(axis: Axis) -> str:
    """``-8..8 step 2`` or ``-27..27`` or ``-9..9 (11 of 19)``: the offsets read, briefly."""
    offsets = axis.offsets()
    span = f"{offsets[0]}..{offsets[-1]}"
    steps = {b - a for a, b in itertools.pairwise(offsets)}
    if len(offsets) == 1 or steps == {1}:
        return span
    if len(steps) == 1:
        return f"{span} step {steps.pop()}"
    return f"{span} ({len(offsets)} of {offsets[-1] - offsets[0] + 1})"


def describe_holes(axis: Axis) -> str:
    """``none``, ``odd offsets``, ``±2, ±6`` or a count: the holes, briefly."""
    holes = axis.holes()
    if not holes:
        return "none"
    inside = range(int(axis.lo), int(axis.hi) + 1)
    for modulus in (2, 4, 8):
        if set(holes) == {i for i in inside if i % modulus}:
            return "odd offsets" if modulus == 2 else f"non-multiples of {modulus}"
    positive = [h for h in holes if h > 0]
    if set(holes) == {*positive, *(-h for h in positive)} and len(positive) <= 4:
        return ", ".join(f"±{h}" for h in positive)
    return f"{len(holes)} offsets"
