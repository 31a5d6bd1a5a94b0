"""``drnet demo --quick`` runs the whole demo path: three trainings, the table, the PNG grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from drnet.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def test_quick_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines()
            if line.startswith(("dilated (DRN) ", "no dilation ", "output stride 32 "))}
    assert set(rows) == {"dilated (DRN)", "no dilation", "output stride 32"}
    # Receptive fields of drn_d_tiny by design.md §5, by hand (one block per stage):
    # stem 7 -> 7; layer1 +2 -> 9; layer2 (stride 2) +2 -> 11, jump 2; layer3: +2*2, +2*4 -> 23,
    # jump 4; layer4: +2*4, +2*8 -> 47, jump 8. Dilated: layer5 2x(2*2*8) -> 111, layer6
    # 2x(4*2*8) -> 239, layer7 +2*2*8 -> 271, layer8 +2*8 -> 287. Undilated: 4 convs of +16 from
    # layer5 on: 79, 111, 127, 143. Output stride 32: layer5 +16 (stride) +32 -> 95, jump 16;
    # layer6 +32 +64 -> 191, jump 32; layer7, layer8 +64 each -> 319.
    assert "287 px" in " ".join(rows["dilated (DRN)"])
    assert "143 px" in " ".join(rows["no dilation"])
    assert "319 px" in " ".join(rows["output stride 32"])
    grid = Image.open(tmp_path / "demo_predictions.png")
    assert grid.mode in ("RGB", "RGBA")
    assert grid.size[0] > 400
    assert "mIoU points" in out
