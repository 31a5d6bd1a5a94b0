"""PNG figures for people: effective receptive field heat maps and gridding patterns.

matplotlib is imported inside each function (and only its object-oriented API, so no global
backend is switched), keeping ``import drnet.analysis`` free of it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from drnet.analysis.axis import Axis
from drnet.analysis.erf import EffectiveRF
from drnet.analysis.gridding import Gridding, GriddingRow
from drnet.analysis.planning import RateCheck, path_counts
from drnet.errors import DrnetValueError

DPI = 100


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on its own Agg canvas: no global backend or pyplot state."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as err:  # the API's message too, not only the CLI's
        raise ModuleNotFoundError("figures need matplotlib: pip install 'drnet[plot]'",
                                  name="matplotlib") from err

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Any, path: str | os.PathLike, palette: bool = True) -> Path:
    """Write ``figure`` to ``path`` (must end in .png), as a compact 256-colour PNG unless
    ``palette`` is false (figures whose rare colours matter: a legend patch of a colour few
    pixels use would be mapped to a common one)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DrnetValueError(f"figures are written as PNG; give a path ending in .png, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    # A 256-colour palette keeps noisy heat maps small (a third of the size) and looks the same.
    with Image.open(buffer) as image:
        image = image.convert("RGB")
        (image.quantize(256) if palette else image).save(path, format="PNG", optimize=True)
    return path


def save_erf(erf: EffectiveRF, path: str | os.PathLike, weights: str | None = None) -> Path:
    """Write :func:`erf_figure` as a PNG."""
    return save_png(erf_figure(erf, weights), path)


def erf_figure(erf: EffectiveRF, weights: str | None = None) -> Any:
    """Heat map of the effective receptive field, with the theoretical field outlined.

    ``weights`` says in the title which weights were used (e.g. "untrained: PyTorch's default
    initialisation, seed 0"); ``erf.random_weights`` (re-drawn per sample) says it itself."""
    from matplotlib.patches import Rectangle

    figure = new_figure(6.4, 5.4)
    ax = figure.add_subplot()
    heat = (erf.magnitude / erf.magnitude.max()).numpy()
    height, width = erf.input_size
    image = ax.imshow(heat, cmap="magma", extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    figure.colorbar(image, ax=ax, label="mean |gradient| (max = 1)")
    (r0, r1), (c0, c1) = erf.theoretical
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                           edgecolor="cyan", linestyle="--", linewidth=1.5,
                           label="theoretical field (in the image)"))
    ax.legend(loc="upper right", fontsize=8)
    sigma = erf.std
    if erf.random_weights:
        weights = "weights re-drawn for every input (the architecture's ERF, not one network's)"
    elif weights is None:
        weights = "the model's weights as passed in"
    ax.set_title(f"Effective receptive field of {erf.model} ({erf.at}), output {erf.position}\n"
                 f"{erf.samples} random inputs; weights: {weights}", fontsize=9)
    ax.set_xlabel(f"input column (px)   ·   50% of the mass in {erf.mass_fraction(0.5):.1%}, "
                  f"95% in {erf.mass_fraction(0.95):.1%} of the theoretical field, "
                  f"σ = {sigma[0]:.1f} x {sigma[1]:.1f} px", fontsize=8)
    ax.set_ylabel("input row (px)")
    return figure


def save_gridding(gridding: Gridding, path: str | os.PathLike) -> Path:
    """Write :func:`gridding_figure` as a PNG."""
    return save_png(gridding_figure(gridding), path)


def gridding_figure(gridding: Gridding) -> Any:
    """Sampling patterns in image pixels, on one scale: top row each stage alone (from the
    first dilated one), bottom row cumulative from the first dilated stage through each later
    one. Dark = read, white = hole."""
    first = gridding.dilated[0].name if gridding.dilated else None
    names = [r.name for r in gridding.stages]
    top = list(gridding.stages[names.index(first):]) if first in names else \
        list(gridding.stages[-4:])
    panels = [top, list(gridding.dilated)] if gridding.dilated else [top]
    labels = ["each stage alone", f"cumulative from {first}"]
    columns = max(len(p) for p in panels)
    reach = max(_reach(item) for panel in panels for item in panel)
    figure = new_figure(2.7 * columns + 0.9, 3.1 * len(panels) + 0.6)
    axes = figure.subplots(len(panels), columns, squeeze=False)
    for row, panel, label in zip(axes, panels, labels, strict=False):
        for ax, item in zip(row, panel + [None] * (columns - len(panel)), strict=True):
            if item is None:
                ax.set_axis_off()
            else:
                _draw_pattern(ax, item, reach)
        row[0].set_ylabel(f"{label}\n\nrow offset (image px)", fontsize=8)
    note = "" if gridding.dilated else " (no dilated stage)"
    figure.suptitle(f"{gridding.model}: input pixels one output reads, in image pixels around "
                    f"the output's position{note}\n(dark = read, white = hole; every panel on "
                    f"the same scale)", fontsize=10)
    return figure


def _reach(item: GriddingRow) -> float:
    """Half-extent (image px) of the item's pattern, including its outermost pixels."""
    return max(abs(a) for axis in (item.rows, item.cols) for a in (axis.lo, axis.hi)) * \
        item.scale + item.scale / 2


def _draw_pattern(ax: Any, item: GriddingRow, reach: float) -> None:
    pattern = _mask(item.rows)[:, None] * _mask(item.cols)[None, :]
    s = item.scale
    ax.imshow(pattern.numpy(), cmap="Blues", vmin=0, vmax=1.2, interpolation="nearest",
              extent=(item.cols.lo * s - s / 2, item.cols.hi * s + s / 2,
                      item.rows.hi * s + s / 2, item.rows.lo * s - s / 2))
    ax.set_xlim(-reach, reach)
    ax.set_ylim(reach, -reach)
    ax.set_facecolor("0.96")
    dilations = " | ".join("/".join(map(str, d)) for d in item.dilations)
    status = "no holes" if item.ok else f"{item.coverage:.0%} read"
    ax.set_title(f"{item.name}: {int(item.rows.size) * s} px, {status}\ndilation {dilations} "
                 f"at input stride {s}", fontsize=8)
    ax.set_xlabel("column offset (image px)", fontsize=8)
    ax.tick_params(labelsize=7)
    _integer_ticks(ax, bins=5)


def _integer_ticks(ax: Any, bins: int | str = "auto") -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=bins, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=bins, integer=True))


def _with_white_holes(name: str) -> Any:
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="white")


def _mask(axis: Axis) -> torch.Tensor:
    mask = torch.zeros(int(axis.size))
    mask[[o - int(axis.lo) for o in axis.offsets()]] = 1
    return mask


def save_rates(checks: Sequence[RateCheck], path: str | os.PathLike) -> Path:
    """Sampling density (paths per offset, exact for a plain k x k stack) of rate choices."""
    figure = new_figure(3.2 * len(checks) + 0.6, 3.6)
    axes = figure.subplots(1, len(checks), squeeze=False)[0]
    for ax, check in zip(axes, checks, strict=True):
        counts = path_counts(check.rates, check.kernel)
        reach = check.rf // 2
        line = torch.zeros(check.rf, dtype=torch.float64)
        for offset, n in counts.items():
            line[offset + reach] = n
        density = torch.outer(line, line)
        shown = (density / density.max()).sqrt()
        shown[density == 0] = float("nan")  # holes: drawn white
        image = ax.imshow(shown.numpy(), cmap=_with_white_holes("viridis"), vmin=0, vmax=1,
                          interpolation="nearest",
                          extent=(-reach - 0.5, reach + 0.5, reach + 0.5, -reach - 0.5))
        figure.colorbar(image, ax=ax, shrink=0.8, label="√(paths / max)")
        _integer_ticks(ax)
        status = "no holes" if check.ok else f"{len(check.holes)} holes per axis"
        ax.set_title(f"rates {', '.join(map(str, check.rates))} ({check.kernel}x"
                     f"{check.kernel})\nfield {check.rf}: {status}", fontsize=9)
        ax.set_xlabel("column offset", fontsize=8)
        ax.set_ylabel("row offset", fontsize=8)
    figure.suptitle("Sampling density of a stack of dilated convolutions (white = hole)",
                    fontsize=10)
    return save_png(figure, path)
