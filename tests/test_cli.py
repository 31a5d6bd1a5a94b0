"""The ``drnet`` command: tables on stdout, one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drnet.cli import main


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


def test_bad_size_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["info", "resnet18", "--input", "12xx"])
    assert info.value.code == 2
    assert "expected a size like 512x1024" in capsys.readouterr().err


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "drnet.cli", "--version"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.startswith("drnet ")
