"""The figure of ``drnet demo``: what each network sees of one far pixel, and what it predicts.

Top row: one band pixel far from its tag, and for each network the part of the image its
prediction there can depend on (its theoretical receptive field, from
:func:`drnet.analysis.receptive_field`; pixels outside are dimmed), the contour holding 95 % of
its effective receptive field (:func:`drnet.analysis.effective_receptive_field`) and, at output
stride 32, the grid of positions where scores are computed. Below: input, ground truth and each
network's prediction for a few validation images, wrong pixels outlined, with a class legend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from drnet.analysis.plots import new_figure, save_png
from drnet.tasks.demo import DemoResult, Shown
from drnet.tasks.demo_fields import PixelField

WRONG = "#ffd400"  # yellow: in no class colour
ERF = "#00e5ff"
BOX = "#ff4fd8"
PANEL = 1.7  # inches per image panel


def save_demo_figure(path: str | os.PathLike, results: list[DemoResult], shown: Shown) -> Path:
    """Write the figure (see the module docstring) as a PNG."""
    return save_png(demo_figure(results, shown), path, palette=False)


def demo_figure(results: list[DemoResult], shown: Shown) -> Any:
    """The figure (see the module docstring): a matplotlib Figure with two subfigures."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    columns = 2 + len(results)
    rows = len(shown.masks)
    figure = new_figure(PANEL * columns, PANEL * (rows + 1.25) + 0.9)
    top, bottom = figure.subfigures(2, 1, height_ratios=[1.25, rows + 0.1])
    palette = np.asarray(shown.palette, dtype=np.uint8)
    images = _denormalise(shown)
    pixel, sample = shown.pixel, shown.sample

    axes = top.subplots(1, columns)
    _field_intro(axes[0], images[sample], shown, pixel)
    axes[1].set_axis_off()
    for ax, result in zip(axes[2:], results, strict=True):
        assert result.field is not None
        _field_panel(ax, images[sample], shown.tag_distance[sample], result.field)

    grid = bottom.subplots(rows, columns, squeeze=False)
    for i in range(rows):
        mask = shown.masks[i]
        _show(grid[i, 0], images[i], "input" if i == 0 else None)
        _show(grid[i, 1], palette[np.where(mask == 255, 0, mask)],
              "ground truth" if i == 0 else None)
        for ax, result in zip(grid[i, 2:], results, strict=True):
            prediction = result.predictions[i]
            wrong = (prediction != mask) & (mask != 255)
            _show(ax, palette[prediction], f"{result.name}\nmIoU {result.miou:.1f}"
                  if i == 0 else None)
            if wrong.any():
                ax.contour(wrong.astype(float), levels=[0.5], colors=WRONG, linewidths=0.8)
            ax.set_xlabel(f"{wrong.mean():.1%} wrong", fontsize=7, labelpad=1)
        if i == sample:
            for ax in grid[i]:
                ax.plot(pixel[1], pixel[0], marker="x", color="white", markersize=6, mew=1.8)

    handles = [Patch(facecolor=np.asarray(c) / 255, edgecolor="0.5", label=n)
               for n, c in zip(shown.class_names, shown.palette, strict=True)]
    handles += [Line2D([], [], color=WRONG, label="wrong pixels"),
                Line2D([], [], color=BOX, linestyle="--", label="receptive field (theory)"),
                Line2D([], [], color=ERF, label="95 % of the effective field"),
                Line2D([], [], color="white", marker="o", markersize=3, linestyle="none",
                       markeredgecolor="black", label="where scores are computed")]
    axes[1].legend(handles=handles, loc="center", fontsize=6.5, frameon=False,
                   facecolor="0.9", labelspacing=0.35, handlelength=1.6)
    axes[1].set_facecolor("0.92")
    return figure


def _denormalise(shown: Shown) -> np.ndarray:
    mean = np.asarray(shown.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(shown.std, dtype=np.float32)[:, None, None]
    images = shown.images.numpy() * std + mean
    return np.clip(images, 0, 1).transpose(0, 2, 3, 1)


def _show(ax: Any, image: np.ndarray, title: str | None) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _field_intro(ax: Any, image: np.ndarray, shown: Shown, pixel: tuple[int, int]) -> None:
    distance = int(shown.tag_distance[shown.sample][pixel])
    _show(ax, image, f"a band pixel (x)\n{distance} px from its tag")
    _outline_tag(ax, shown.tag_distance[shown.sample])
    ax.plot(pixel[1], pixel[0], marker="x", color="white", markersize=7, mew=2)


def _field_panel(ax: Any, image: np.ndarray, tag_distance: np.ndarray,
                 field: PixelField) -> None:
    """The image dimmed outside the field, the field's box, the ERF contour and the score grid."""
    from matplotlib.patches import Rectangle

    height, width = tag_distance.shape
    (r0, r1), (c0, c1) = field.box
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    inside = (rows >= r0) & (rows <= r1) & (cols >= c0) & (cols <= c1)
    shaded = np.where(inside[..., None], image, 0.25 * image)
    verdict = "field reaches the tag" if field.reaches_tag else "field misses the tag"
    _show(ax, shaded, f"{field.network}\nfield {field.size} px")
    grid = f"\nscores every {field.stride} px" if field.stride > 8 else ""
    ax.set_xlabel(f"{verdict}{grid}", fontsize=7, labelpad=1)
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                           edgecolor=BOX, linestyle="--", linewidth=1.4, clip_on=True))
    ax.contour(field.erf_smooth.numpy(), levels=[field.erf_level], colors=ERF, linewidths=1.0)
    grid_rows, grid_cols = field.grid_centres
    if field.stride > 8:  # at 8 px the dots would cover the picture; at 32 they are the point
        yy, xx = np.meshgrid(grid_rows, grid_cols, indexing="ij")
        ax.scatter(xx.ravel(), yy.ravel(), s=12, c="white", edgecolors="black", linewidths=0.6,
                   zorder=4, clip_on=False)
    _outline_tag(ax, tag_distance)
    ax.plot(field.pixel[1], field.pixel[0], marker="x", color="white", markersize=7, mew=2)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)


def _outline_tag(ax: Any, tag_distance: np.ndarray) -> None:
    ax.contour((tag_distance == 0).astype(float), levels=[0.5], colors="white", linewidths=1.0)
