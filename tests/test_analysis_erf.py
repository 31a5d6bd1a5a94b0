"""Effective receptive field (Luo et al. 2016) and the PNG figures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from drnet.analysis import check_rates, effective_receptive_field, gridding, receptive_field
from drnet.analysis.plots import save_erf, save_gridding, save_rates


def averaging_stack(layers: int) -> nn.Sequential:
    """Linear 3x3 box filters: the gradient does not depend on the input."""
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(layers)])
    with torch.no_grad():
        for conv in model:
            conv.weight.fill_(1 / 9)
    return model


def test_erf_of_box_filters_is_the_path_density() -> None:
    # n box filters: per axis the sum of n taps uniform on {-1, 0, 1}, variance n * 2/3.
    erf = effective_receptive_field(averaging_stack(4), 33, samples=3)
    assert erf.position == (16, 16)
    assert erf.theoretical == ((12, 20), (12, 20))
    assert erf.magnitude.sum().item() == pytest.approx(1.0)
    assert erf.std == pytest.approx((math.sqrt(8 / 3), math.sqrt(8 / 3)))
    inside = erf.magnitude[12:21, 12:21]
    assert (inside > 0).all()
    assert inside.sum().item() == pytest.approx(1.0)
    # 1-d weights (1, 4, 10, 16, 19, 16, 10, 4, 1) / 81: the 95% mass needs the 7x7 core
    # minus its corners at most; the centre pixel alone holds (19/81)^2 = 5.5% of the mass.
    assert erf.mass_fraction(0.05) == 1 / 81
    assert 0 < erf.mass_fraction(0.5) < erf.mass_fraction(0.95) < 49 / 81


def test_erf_of_a_nonlinear_net_stays_inside_the_theoretical_field() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=2, dilation=2), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1))
    for random_weights in (False, True):
        erf = effective_receptive_field(model, 40, samples=2, random_weights=random_weights)
        (r0, r1), (c0, c1) = erf.theoretical
        # Analytic field of output 9: 3x3/2 -> 3; dilated 3x3 at jump 2 -> +8; 3x3 -> +4: 15.
        assert (r1 - r0 + 1, c1 - c0 + 1) == (15, 15)
        outside = erf.magnitude.clone()
        outside[r0:r1 + 1, c0:c1 + 1] = 0
        assert outside.sum() == 0
        assert erf.magnitude.sum().item() == pytest.approx(1.0)
    assert model.training  # restored


def test_erf_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="samples must be"):
        effective_receptive_field(averaging_stack(1), 8, samples=0)


def assert_png(path: Path, min_size: tuple[int, int]) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_size[0]
        assert image.size[1] >= min_size[1]


def test_figures_are_readable_pngs(tmp_path: Path) -> None:
    erf = effective_receptive_field(averaging_stack(3), 21, samples=1)
    assert_png(save_erf(erf, tmp_path / "erf.png"), (500, 400))
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1),
                          nn.Conv2d(1, 1, 3, padding=2, dilation=2),
                          nn.Conv2d(1, 1, 3, padding=1))
    grid = gridding(receptive_field(model, 16))
    assert_png(save_gridding(grid, tmp_path / "sub" / "grid.png"), (500, 250))
    assert_png(save_rates([check_rates((2, 2, 2)), check_rates((1, 2, 5))],
                          tmp_path / "rates.png"), (500, 250))
    with pytest.raises(ValueError, match=r"ending in \.png"):
        save_rates([check_rates((1,))], tmp_path / "rates.jpg")
