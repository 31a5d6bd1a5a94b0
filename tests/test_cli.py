"""The ``drnet`` command: tables on stdout, one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from drnet.cli import main
from drnet.models import list_models


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "drn_d_*"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["name", "family"]
    row = next(line for line in lines if line.startswith("drn_d_22 "))
    assert "16.39" in row
    assert "imagenet1k" in row
    names = [line.split()[0] for line in lines[2:]]
    assert names.index("drn_d_22") < names.index("drn_d_105")  # natural order


def test_models_prints_the_zoo_table_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.split("\n\n")[0].splitlines()[2:]]
    assert rows == [*list_models(family="resnet"), *list_models(family="drn")]
    assert "segmentation" in out.split("\n\n")[1]  # says how to see the other families
    assert main(["models", "deeplabv3_resnet1*"]) == 0  # a pattern searches every family
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [line.split()[:2] for line in rows] == [
        [f"deeplabv3_resnet{depth}", "segmentation"] for depth in (18, 101, 152)]


# Every registered name, in groups of similar cost (each a few CPU seconds on the meta device).
NAME_GROUPS = {"backbones": list_models(family="resnet") + list_models(family="drn"),
               "segmentation": list_models(family="segmentation"),
               **{d: list_models(f"{d}_*", family="detection")
                  for d in ("fasterrcnn", "retinanet", "fcos")}}


@pytest.mark.parametrize("group", NAME_GROUPS)
def test_info_works_for_every_registered_name(group: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert sum(map(len, NAME_GROUPS.values())) == len(list_models())
    for name in NAME_GROUPS[group]:
        with torch.device("meta"):  # shapes only: every model, in seconds
            assert main(["info", name, "--input", "64x96"]) == 0, name
        out = capsys.readouterr().out
        stride = int(out.split("output stride ")[1].split()[0])
        assert f"(measured {64 / (-(-64 // stride)):.2f} x {96 / (-(-96 // stride)):.2f})" in out


def test_info_reports_the_measured_output_stride(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "resnet50", "--output-stride", "8", "--input", "96x64"]) == 0
    out = capsys.readouterr().out
    assert "layer4  2048      8       4         2048x12x8" in out
    assert "output stride 8 (measured 8.00 x 8.00)" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["info", "resnet05"], "unknown model 'resnet05'; closest: resnet50"),
    (["info", "resnet50", "--output-stride", "12"], "output_stride must be one of (8, 16, 32)"),
    (["models", "nothing*"], "no registered model matches 'nothing*'"),
])
def test_errors_are_one_line(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_figure_without_matplotlib_names_the_extra(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # its import fails
    assert main(["rf", "--rates", "1,2,5", "--plot", str(tmp_path / "rates.png")]) == 2
    err = capsys.readouterr().err
    assert "drnet rf: error: this needs matplotlib: pip install 'drnet[plot]'" in err
    assert "Traceback" not in err


def test_bad_size_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["info", "resnet18", "--input", "12xx"])
    assert info.value.code == 2
    assert "expected a size like 512x1024" in capsys.readouterr().err


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "drnet.cli", "--version"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.startswith("drnet ")
