"""``drnet demo``: the whole path (``--quick``), and the figure's receptive-field overlay checked
against hand-computed fields and :mod:`drnet.analysis`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drnet import create_model
from drnet.analysis import receptive_field
from drnet.cli import main
from drnet.data.segmentation.synthetic import ContextSegmentationDataset
from drnet.tasks.demo import VARIANTS, DemoResult, Shown
from drnet.tasks.demo_fields import far_pixel, pixel_field

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

# Receptive fields of drn_d_tiny by design.md §5, by hand (one block per stage):
# stem 7 -> 7; layer1 +2 -> 9; layer2 (stride 2) +2 -> 11, jump 2; layer3: +2*2, +2*4 -> 23,
# jump 4; layer4: +2*4, +2*8 -> 47, jump 8. Dilated: layer5 2x(2*2*8) -> 111, layer6
# 2x(4*2*8) -> 239, layer7 +2*2*8 -> 271, layer8 +2*8 -> 287. Undilated: 4 convs of +16 from
# layer5 on: 79, 111, 127, 143. Output stride 32: layer5 +16 (stride) +32 -> 95, jump 16;
# layer6 +32 +64 -> 191, jump 32; layer7, layer8 +64 each -> 319.
FIELDS = {"dilated (DRN)": (287, 8), "no dilation": (143, 8), "output stride 32": (319, 32)}


def _backbone(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("drnseg_d_tiny", num_classes=5, **VARIANTS[name]).backbone.eval()


def test_quick_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines()
            if line.startswith(("dilated (DRN) ", "no dilation ", "output stride 32 "))}
    assert set(rows) == set(FIELDS)
    for name, (size, _) in FIELDS.items():
        assert f"{size} px" in " ".join(rows[name])
    assert "mIoU points" in out
    figure = Image.open(tmp_path / "demo.png")
    assert figure.mode in ("RGB", "RGBA", "P")
    assert 600 <= figure.size[0] <= 1000  # readable at README width
    report = json.loads((tmp_path / "demo.json").read_text())
    assert report["seeds"] == [0]
    # The marked pixel's fields: centred on the output position nearest the pixel (a multiple
    # of the stride: position u's field is centred at u * stride), hand-computed sizes, and
    # "reaches the tag" true exactly when a tag pixel of the regenerated sample is inside.
    size = report["config"]["image_size"]
    for run in report["runs"][0]:
        field = run["marked_pixel"]
        rf, stride = FIELDS[run["name"]]
        assert run["receptive_field"] == rf
        (r0, r1), (c0, c1) = field["box"]
        assert r1 - r0 + 1 == c1 - c0 + 1 == rf
        row, col = field["pixel"]
        for centre, at in (((r0 + r1) / 2, row), ((c0 + c1) / 2, col)):
            last = (size - 1) // stride * stride
            assert centre == min(round(at / stride) * stride, last)
        sample = ContextSegmentationDataset(8, size, 0, "val").generate(field["sample"])
        assert sample.tag_distance[row, col] == field["tag_distance"]
        tag_rows, tag_cols = np.nonzero(sample.tag_distance == 0)
        inside = (tag_rows >= r0) & (tag_rows <= r1) & (tag_cols >= c0) & (tag_cols <= c1)
        assert field["reaches_tag"] == bool(inside.any())


def test_far_pixel_is_the_farthest_band_pixel() -> None:
    distance = np.full((2, 8, 8), -1)
    distance[1, 2:5, 0:8] = np.arange(8)  # a band with its tag at column 0
    sample, (row, col) = far_pixel(distance)
    assert (sample, col) == (1, 7)
    assert row == 3  # the middle of rows 2-4
    with pytest.raises(ValueError, match="band pixel"):
        far_pixel(np.full((1, 4, 4), -1))


def test_the_undilated_field_misses_a_far_tag_by_hand() -> None:
    # A tag in columns 0-5 and a pixel at column 120 (tag distance 115) of a 128 x 128 image.
    distance = np.full((128, 128), -1)
    distance[40:70, :] = np.maximum(np.arange(128) - 5, 0)
    pixel = (55, 120)
    # The field of the output position nearest the pixel: positions every `stride` px from
    # 0 (u * stride), clipped to the last one, and half a field either side.
    expected = {"dilated (DRN)": ((56, -87, 199), (120, -23, 263), True),
                "no dilation": ((56, -15, 127), (120, 49, 191), False),
                "output stride 32": ((64, -95, 223), (96, -63, 255), True)}
    for name, ((_, r0, r1), (_, c0, c1), reaches) in expected.items():
        field = pixel_field(name, _backbone(name), distance, pixel, samples=2)
        assert field.size == FIELDS[name][0]
        assert field.box == ((r0, r1), (c0, c1))
        assert field.reaches_tag is reaches
        assert field.tag_distance == 115
        stage = receptive_field(_backbone(name), (128, 128)).last_spatial_stage
        assert field.box[1] == stage.cols.interval(field.position[1])
        assert field.erf.sum().item() == pytest.approx(1.0)
        assert field.erf_smooth.sum().item() == pytest.approx(1.0)
        # The 95 % contour level: the pixels at or above it hold at least 95 % of the mass,
        # the pixels strictly above it less.
        above = field.erf_smooth[field.erf_smooth >= field.erf_level].sum().item()
        strictly = field.erf_smooth[field.erf_smooth > field.erf_level].sum().item()
        assert strictly < 0.95 <= above + 1e-12


def test_the_figure_draws_each_networks_field_from_the_analysis(tmp_path: Path) -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Rectangle

    from drnet.tasks.demo_figure import demo_figure

    data = ContextSegmentationDataset(2, 128, 0, "val")
    generated = [data.generate(i) for i in range(2)]
    distance = np.stack([g.tag_distance for g in generated])
    sample, pixel = far_pixel(distance)
    masks = np.stack([g.mask for g in generated])
    results = []
    for name in VARIANTS:
        field = pixel_field(name, _backbone(name), distance[sample], pixel, samples=2)
        results.append(DemoResult(name, FIELDS[name][1], field.size, 50.0, 80.0, 1.0,
                                  np.zeros_like(masks), field))
    shown = Shown(torch.from_numpy(np.stack([g.image for g in generated])), masks, distance,
                  sample, pixel, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), list(data.class_names),
                  list(data.palette))
    figure = demo_figure(results, shown)
    field_axes = figure.subfigs[0].axes[2:]
    assert len(field_axes) == len(results)
    for ax, result in zip(field_axes, results, strict=True):
        (box,) = [p for p in ax.patches if isinstance(p, Rectangle)]
        (r0, r1), (c0, _c1) = result.field.box
        stage = receptive_field(_backbone(result.name), (128, 128)).last_spatial_stage
        assert (r0, r1) == stage.rows.interval(result.field.position[0])
        assert (box.get_x(), box.get_y()) == (c0 - 0.5, r0 - 0.5)
        assert (box.get_width(), box.get_height()) == (FIELDS[result.name][0],) * 2
        assert ("misses the tag" in ax.get_xlabel()) is (not result.field.reaches_tag)
        # the score grid is drawn only where it is coarse (output stride 32: 4 x 4 points)
        dots = sum(len(c.get_offsets()) for c in ax.collections
                   if isinstance(c, PathCollection))
        assert dots == (16 if FIELDS[result.name][1] == 32 else 0)
    # wrong pixels are outlined: every prediction here is all background, so bands are wrong
    prediction_axes = figure.subfigs[1].axes
    assert all("wrong" in ax.get_xlabel() for ax in prediction_axes[2:5])


def test_options_quick_would_ignore_are_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--steps", "50", "--image-size", "96"]) == 2
    err = capsys.readouterr().err
    assert "--quick sets its own tiny run; drop --steps, --image-size or --quick" in err
    assert main(["demo", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1, got 0" in capsys.readouterr().err
