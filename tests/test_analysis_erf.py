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


def test_gridding_figure_is_in_image_pixels_on_one_scale() -> None:
    from drnet import create_model
    from drnet.analysis.plots import gridding_figure

    grid = gridding(receptive_field(create_model("drn_d_22"), 64))
    # DRN-D-22's dilated stages read their input at stride 8 (stem 1, layers 2-4 stride 2 each).
    assert {row.name: row.scale for row in grid.stages}["layer5"] == 8
    assert {row.name: row.scale for row in grid.stages}["layer2"] == 1
    assert {row.name: row.scale for row in grid.stages}["layer3"] == 2
    assert all(row.scale == 8 for row in grid.dilated)
    figure = gridding_figure(grid)
    axes = [ax for ax in figure.axes if ax.get_visible() and ax.axison]
    # Top row: layer5..layer8 alone; bottom row: cumulative from layer5.
    assert [ax.get_title().split(":")[0] for ax in axes] == [
        "layer5", "layer6", "layer7", "layer8",
        "layer5", "layer5-layer6", "layer5-layer7", "layer5-layer8"]
    # layer5-layer8 reads offsets -27..27 of its stride-8 input: +-(27 * 8 + 4) image px, the
    # widest pattern, so every panel shares that range.
    assert {ax.get_xlim() for ax in axes} == {(-220.0, 220.0)}
    assert "each stage alone" in axes[0].get_ylabel()
    assert "cumulative from layer5" in axes[4].get_ylabel()
    assert all("image px" in ax.get_xlabel() for ax in axes)
    # layer6's pattern: 17 offsets of dilation 4 x stride 8 = 264 image px wide
    assert axes[1].get_title().startswith("layer6: 264 px")


def test_erf_title_names_the_weights() -> None:
    from drnet.analysis.plots import erf_figure

    erf = effective_receptive_field(averaging_stack(2), 9, samples=1)
    title = erf_figure(erf, weights="pretrained: imagenet").axes[0].get_title()
    assert "weights: pretrained: imagenet" in title
    shuffled = effective_receptive_field(averaging_stack(2), 9, samples=1, random_weights=True)
    assert "re-drawn for every input" in erf_figure(shuffled).axes[0].get_title()


def test_a_figure_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from drnet.analysis.plots import new_figure

    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # its import fails
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'drnet\[plot\]'") as caught:
        new_figure(1, 1)
    assert caught.value.name == "matplotlib"
