"""Text tables of ``drnet rf``: per stage (default) or per layer, gridding, ERF and check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drnet.analysis.axis import Axis, json_number
from drnet.analysis.gridding import Gridding, describe_holes, describe_offsets
from drnet.analysis.receptive_field import ReceptiveField
from drnet.cli.models import format_table

FIELD_COLUMNS = ("rf", "jump", "eff. pad", "centre")


def print_report(report: ReceptiveField, grid: Gridding, erf: Any, checks: Any, *,
                 per_layer: bool = False) -> None:
    height, width = report.input_size
    print(f"{report.model}: receptive fields in input pixels, traced at {height}x{width} "
          f"(two numbers: rows x cols)\n")
    if per_layer:
        rows = [("layer", "op", "kernel", "stride", "dilation", "padding", "output",
                 *FIELD_COLUMNS)]
        for layer in report.layers:
            rows.append((layer.name or "(forward)", layer.op, *(_pair(p) for p in (
                layer.kernel, layer.stride, layer.dilation, layer.padding)),
                _shape(layer.shape), *_fields(layer.rows, layer.cols)))
    else:
        rows = [("stage", "output", *FIELD_COLUMNS, "dilation")]
        for stage in report.stages:
            rows.append((stage.name, _shape(stage.shape), *_fields(stage.rows, stage.cols),
                         ",".join(map(str, stage.dilations)) or "-"))
    for i, (shape, axes) in enumerate(report.outputs):
        name = f"(output {i})" if len(report.outputs) > 1 else "(output)"
        fields = _fields(*(axes or (None, None)))
        rows.append((name, "", "-", "-", "-", "-", _shape(shape), *fields) if per_layer
                    else (name, _shape(shape), *fields, ""))
    print(format_table(rows))
    print("\nrf: field size; jump: effective stride; eff. pad: how far output 0's field starts "
          "before the image; centre: its centre (output u: + u x jump); global: every output "
          "reads the whole field; <=: an upper bound (after interpolation)")
    _print_gridding(report, grid)
    if erf is not None:
        summary = erf.summary()
        print(f"\neffective receptive field of {erf.at} ({erf.samples} random inputs): 50% of "
              f"the gradient mass in {summary['mass50']:.1%} and 95% in "
              f"{summary['mass95']:.1%} of the theoretical field (within the image); "
              f"std {summary['std'][0]:.1f} x {summary['std'][1]:.1f} px")
    if checks is not None:
        _print_checks(checks)


def _print_gridding(report: ReceptiveField, grid: Gridding) -> None:
    dilated = [r for r in grid.stages if max(max(d) for d in r.dilations) > 1]
    if not any(max(s.dilations, default=1) > 1 for s in report.stages):
        print("\ngridding: no stage has dilated convolutions (--json lists every stage's "
              "offsets)")
        return
    if not dilated:
        print("\ngridding: the dilated stages read their whole input (global pooling, e.g. "
              "squeeze-excitation) or only bounds are known (interpolation): no offsets to list")
        return
    print("\ngridding: offsets one output reads along rows (= cols here unless shown), in "
          "pixels of the first listed stage's input (x its input stride = image pixels)")
    rows = [("stages", "dilations", "input stride", "offsets read", "holes", "coverage")]
    for row in (*dilated, *grid.dilated[1:]):
        offsets, holes = describe_offsets(row.rows), describe_holes(row.rows)
        if row.rows != row.cols:
            offsets += f" / {describe_offsets(row.cols)}"
            holes += f" / {describe_holes(row.cols)}"
        rows.append((row.name, " ".join("/".join(map(str, d)) for d in row.dilations),
                     str(row.scale), offsets, holes, f"{row.coverage:.0%}"))
    print(format_table(rows))
    whole = grid.dilated_part
    if whole is not None:
        verdict = "no holes" if whole.ok else "holes remain"
        print(f"whole dilated part ({whole.name}): {verdict}")


def _print_checks(checks: Sequence[Any]) -> None:
    print("\ncheck by backpropagation (all paths active, thin input along the other axis):")
    rows = [("axis", "input", "outputs", "analytic", "measured", "")]
    for c in checks:
        rows.append((c.axis, f"{c.input_size[0]}x{c.input_size[1]}",
                     f"{c.positions[0]}, {c.positions[1]}",
                     " ".join(f"[{a}, {b}]" for a, b in c.analytic),
                     " ".join(f"[{a}, {b}]" for a, b in c.measured),
                     "ok" if c.ok else "MISMATCH"))
    print(format_table(rows))


def _fields(rows: Axis | None, cols: Axis | None) -> tuple[str, str, str, str]:
    if rows is None or cols is None:
        return ("-",) * 4  # type: ignore[return-value]
    bound = "" if rows.exact and cols.exact else "<="
    if rows.is_global and cols.is_global:
        return (bound + _two(rows.size, cols.size), "global", _two(rows.padding, cols.padding),
                "-")
    return (bound + _two(rows.size, cols.size), _two(rows.jump, cols.jump),
            _two(rows.padding, cols.padding), _two(rows.centre, cols.centre))


def _two(a: Any, b: Any) -> str:
    a, b = _num(a), _num(b)
    return a if a == b else f"{a}x{b}"


def _num(value: Any) -> str:
    if value is None:
        return "global"
    number = json_number(value)
    return f"{number:.3g}" if isinstance(number, float) else str(number)


def _pair(value: tuple[int, int] | None) -> str:
    return "-" if value is None else _two(*value)


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) or "-"
