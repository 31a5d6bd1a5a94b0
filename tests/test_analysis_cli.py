"""``drnet rf``: tables, JSON equal to the Python API, PNGs, errors in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from drnet import create_model
from drnet.analysis import gridding, receptive_field
from drnet.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["rf", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def row(out: str, name: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.startswith(name + " "))


def test_stage_table_and_gridding(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["drn_d_22", "--input", "64x64"], capsys)
    assert code == 0
    # Hand-computed in test_analysis_receptive_field: 527 px, jump 8, padding 263, centre 0.
    assert row(out, "layer8")[:6] == ["layer8", "512x8x8", "527", "8", "263", "0"]
    assert row(out, "layer5-layer8")[-2:] == ["none", "100%"]
    assert row(out, "layer5-layer7")[-3:] == ["odd", "offsets", "26%"]
    assert "whole dilated part (layer5-layer8): no holes" in out


def test_json_equals_the_python_api(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["drn_c_26", "--input", "48x40", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    with torch.device("meta"):
        report = receptive_field(create_model("drn_c_26"), (48, 40))
    stages = data["receptive_field"]["stages"]
    assert [s["name"] for s in stages] == [s.name for s in report.stages]
    for got, stage in zip(stages, report.stages, strict=True):
        for axis, want in (("rows", stage.rows), ("cols", stage.cols)):
            assert (got[axis]["rf"], got[axis]["jump"], got[axis]["padding"],
                    got[axis]["centre"]) == (want.size, want.jump, want.padding, want.centre)
        assert got["shape"] == list(stage.shape)
    part = gridding(report).dilated_part
    assert data["gridding"]["dilated"][-1]["rows"]["offsets"] == list(part.rows.offsets())
    assert data["erf"] is None
    assert data["check"] is None


def test_torchvision_models_and_the_layer_table(capsys: pytest.CaptureFixture[str]) -> None:
    # ResNet-18: 7, +4 (maxpool) = 11, +8*4 = 43, +8 +16*3 = 99, +16 +32*3 = 211,
    # +32 +64*3 = 435.
    code, out, _ = run(["torchvision:resnet18", "--input", "64x64"], capsys)
    assert code == 0
    assert row(out, "layer4")[2:4] == ["435", "32"]
    code, out, _ = run(["torchvision:resnet50", "--input", "64x64", "--output-stride", "8",
                        "--layers"], capsys)
    assert code == 0
    assert row(out, "layer4.2.conv2")[:5] == ["layer4.2.conv2", "conv2d", "3", "1", "4"]


def test_torchvision_segmentation_models_need_no_download(
        capsys: pytest.CaptureFixture[str]) -> None:
    # FCN-ResNet50's backbone is ResNet-50 at output stride 8: the same 427 px (à trous);
    # its head's 3x3 conv adds 2 * 8: [-221, 221]. Bilinear x8 upsampling (8 -> 64): output
    # u reads sources floor(c), floor(c) + 1, c = (u + 0.5) / 8 - 0.5 clamped at 0. The bound
    # for every u in the form [lo + u, hi + u]: output 11 reads only source 0 -> lo = -221 - 11;
    # output 0's window is sources 0..1 -> hi = 221 + 8; size 229 + 232 + 1 = 462.
    code, out, _ = run(["torchvision:fcn_resnet50", "--input", "64x64"], capsys)
    assert code == 0
    assert row(out, "backbone")[2:4] == ["427", "8"]
    assert row(out, "classifier")[2:5] == ["443", "8", "221"]
    assert row(out, "(output)")[2:5] == ["<=462", "1", "232"]


def test_rates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--rates", "2,2,2"], capsys)
    assert code == 0
    assert "receptive field 13" in out
    assert "factor 2" in out
    code, out, _ = run(["--rates", "1,2,5", "--json"], capsys)
    assert json.loads(out)["ok"] is True


def test_pngs_erf_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid, heat = tmp_path / "grid.png", tmp_path / "erf.png"
    code, out, _ = run(["drn_d_22", "--input", "48x48", "--plot", str(grid), "--erf", str(heat),
                        "--erf-samples", "1", "--check"], capsys)
    assert code == 0
    for path in (grid, heat):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert min(image.size) >= 400
        assert f"wrote {path}" in out
    assert "effective receptive field of layer8" in out
    assert [line.split()[-1] for line in out.splitlines()
            if line.startswith(("rows ", "cols "))] == ["ok", "ok"]


@pytest.mark.parametrize(("argv", "message"), [
    (["torchvision:resnet05"], "unknown torchvision model 'resnet05'; closest: resnet50"),
    (["drn_d_23"], "unknown model 'drn_d_23'; closest:"),
    (["torchvision:vgg16", "--output-stride", "8"], "needs a torchvision model built with"),
    (["torchvision:resnet18", "--output-stride", "8"], "drnet's resnet18 can"),
    (["resnet50", "--output-stride", "4"], "output_stride must be one of (8, 16, 32)"),
    ([], "give a MODEL"),
    (["resnet18", "--stages", "layer9"], "stages ['layer9'] are not modules of ResNet"),
])
def test_errors_are_one_line(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("flag", "value"), [("--input", "12xx"), ("--rates", "0,2")])
def test_bad_values_are_argparse_errors(flag: str, value: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["rf", "resnet18", flag, value])
    assert info.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_fresh_process_prints_a_table_without_matplotlib() -> None:
    code = ("import sys, drnet.analysis\n"
            "assert 'matplotlib' not in sys.modules, 'drnet.analysis imported matplotlib'\n"
            "from drnet.cli import main\n"
            "raise SystemExit(main(['rf', 'torchvision:vgg16', '--input', '64x64']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert row(result.stdout, "features")[2:5] == ["212", "32", "90"]
