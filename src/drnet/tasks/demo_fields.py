"""What one output pixel of a demo network reads: its theoretical receptive field and effective
receptive field, from :mod:`drnet.analysis`, and whether that field reaches the pixel's tag.

The figure of ``drnet demo`` draws these on the input, so a reader sees *why* the undilated
network fails on band pixels far from their tag (its field ends before the tag) and why the
output-stride-32 network misses lines (it computes scores only every 32 px).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from drnet.analysis import Axis, effective_receptive_field, receptive_field
from drnet.errors import DrnetValueError


@dataclass(frozen=True)
class PixelField:
    """The field of the backbone output position nearest to ``pixel`` (image pixels)."""

    network: str
    pixel: tuple[int, int]  # (row, col) in the image
    stage: str  # backbone stage whose output was analysed (the last spatial one)
    position: tuple[int, int]  # that stage's output position nearest to the pixel
    size: int  # receptive-field side (px)
    stride: int  # output stride: spacing of the positions where scores are computed
    grid_centres: tuple[tuple[float, ...], tuple[float, ...]]  # rows, cols of those positions
    box: tuple[tuple[int, int], tuple[int, int]]  # ((r0, r1), (c0, c1)), ends included
    erf: torch.Tensor  # (H, W) float64 gradient mass, sums to 1
    erf_smooth: torch.Tensor  # the same blurred by a Gaussian (sigma 2 px): a readable contour
    erf_level: float  # the value of erf_smooth whose contour holds 95 % of its mass
    tag_distance: int  # of the pixel to its own tag (px, along the band)
    reaches_tag: bool  # does the box hold at least one pixel of the tag?


def far_pixel(tag_distance: np.ndarray) -> tuple[int, tuple[int, int]]:
    """(sample, (row, col)) of a band pixel as far from its tag as the shown samples have:
    the middle one of the pixels at the largest distance, so it sits inside the band."""
    if tag_distance.ndim != 3 or tag_distance.max() < 1:
        raise DrnetValueError("need (K, H, W) tag distances with at least one band pixel off its "
                              "tag")
    sample = int(np.argmax(tag_distance.reshape(len(tag_distance), -1).max(1)))
    rows, cols = np.nonzero(tag_distance[sample] == tag_distance[sample].max())
    middle = len(rows) // 2
    return sample, (int(rows[middle]), int(cols[middle]))


def nearest_position(axis: Axis, coordinate: int, length: int) -> int:
    """The output position whose field is centred nearest to image ``coordinate``."""
    assert axis.jump is not None
    u = round(Fraction(coordinate - Fraction(axis.lo + axis.hi) / 2) / axis.jump)
    return min(max(u, 0), length - 1)


def pixel_field(network: str, backbone: nn.Module, tag_distance: np.ndarray,
                pixel: tuple[int, int], *, samples: int = 8, seed: int = 0) -> PixelField:
    """Analyse ``backbone`` (trained) at the output position nearest ``pixel`` of an image with
    the given (H, W) ``tag_distance`` map."""
    size = tuple(tag_distance.shape)
    stage = receptive_field(backbone, size).last_spatial_stage
    assert stage.rows is not None
    assert stage.cols is not None
    rows_n, cols_n = stage.shape[-2:]
    position = (nearest_position(stage.rows, pixel[0], rows_n),
                nearest_position(stage.cols, pixel[1], cols_n))
    (r0, r1), (c0, c1) = stage.rows.interval(position[0]), stage.cols.interval(position[1])
    box = ((int(r0), int(r1)), (int(c0), int(c1)))
    erf = effective_receptive_field(backbone, size, at=stage.name, position=position,
                                    samples=samples, seed=seed, name=network)
    smooth = _blur(erf.magnitude)
    mass = smooth.flatten().sort(descending=True).values
    held = torch.searchsorted(mass.cumsum(0), torch.tensor(0.95, dtype=mass.dtype))
    level = float(mass[min(int(held), mass.numel() - 1)])
    tag_rows, tag_cols = np.nonzero(tag_distance == 0)
    inside = ((tag_rows >= box[0][0]) & (tag_rows <= box[0][1])
              & (tag_cols >= box[1][0]) & (tag_cols <= box[1][1]))
    centres = tuple(tuple(float(Fraction(a.lo + a.hi) / 2 + u * a.jump) for u in range(n))
                    for a, n in ((stage.rows, rows_n), (stage.cols, cols_n)))
    return PixelField(network, pixel, stage.name, position, int(stage.rows.size),
                      int(stage.rows.jump), centres, box, erf.magnitude, smooth, level,
                      int(tag_distance[pixel]), bool(inside.any()))


def _blur(mass: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """``mass`` convolved with a normalised Gaussian (zero outside the image), summing to 1."""
    radius = int(3 * sigma)
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=mass.dtype) ** 2 / (2 * sigma**2))
    taps = taps / taps.sum()
    x = mass[None, None]
    x = torch.nn.functional.conv2d(x, taps.view(1, 1, 1, -1), padding=(0, radius))
    x = torch.nn.functional.conv2d(x, taps.view(1, 1, -1, 1), padding=(radius, 0))
    return (x / x.sum())[0, 0]
