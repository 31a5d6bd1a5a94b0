"""Errors a user can act on are one line naming the file or argument (issue 13), through the
real CLI: exit status 2, the first line of stderr, no traceback (``DRNET_TRACEBACK=1`` shows
it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import drnet
from drnet.cli import main
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
SMALL = ["--data.num_train", "8", "--data.num_val", "2", "--data.image_size", "48",
         "--data.batch_size", "4", "--trainer.val_check_interval", "null"]


def _error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Union subtypes" not in err
    # progress lines may come first; the error is one line
    return next(line for line in err.splitlines() if line.startswith("drnet "))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fit")
    assert main(["fit", *SMALL, "--trainer.max_steps", "1", "--trainer.default_root_dir",
                 str(root)]) == 0
    return runs.checkpoint(root)


def test_broken_checkpoints_are_named(trained: Path, tmp_path: Path, capsys) -> None:
    root = ["--trainer.default_root_dir", str(tmp_path / "r")]
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    assert _error(capsys, ["validate", *SMALL, *root, "--ckpt_path", str(empty)]) == (
        f"drnet validate: error: {empty} is empty (0 bytes): not a checkpoint (an interrupted "
        f"copy or download?)")
    extra = tmp_path / "extra.ckpt"
    state = torch.load(trained, weights_only=True)
    state["state_dict"]["model.head.surprise"] = torch.zeros(2)
    torch.save(state, extra)
    line = _error(capsys, ["validate", *SMALL, *root, "--ckpt_path", str(extra)])
    assert line == (f"drnet validate: error: {extra} does not fit SegmentationTask "
                    f"drnseg_d_tiny: 1 unexpected (model.head.surprise)")
    plain = tmp_path / "weights.pth"
    torch.save(state["state_dict"], plain)
    line = _error(capsys, ["validate", *SMALL, *root, "--ckpt_path", str(plain)])
    assert f"{plain} is not a checkpoint of drnet fit" in line
    assert f"--model.pretrained {plain}" in line


def test_errors_raised_while_the_cli_builds_the_task_or_data(tmp_path: Path, capsys) -> None:
    root = ["--trainer.default_root_dir", str(tmp_path / "r")]
    bad = tmp_path / "lists"
    bad.mkdir()
    (bad / "info.json").write_text('{"mean": [0.5, 0.5, 0.5], "std": [0.2, 0, 0.2]}')
    assert _error(capsys, ["fit", "--model", "drnet.tasks.SegmentationTask", "--data",
                           "drnet.data.DRNListDataModule", "--data.root", str(bad), *root]) == (
        f"drnet fit: error: {bad / 'info.json'}: 'std' must be a list of 3 numbers in [0, 1] "
        f"(> 0), got [0.2, 0, 0.2]")
    assert _error(capsys, ["fit", *SMALL, *root, "--model.model_kwargs",
                           "{output_stride: 12}"]) == (
        "drnet fit: error: output_stride must be one of (8, 16, 32) for drn_d_tiny, got 12")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    line = _error(capsys, ["fit", *SMALL, *root, "--model.pretrained", str(junk)])
    assert line.startswith(f"drnet fit: error: {junk} is not a readable checkpoint")
    assert _error(capsys, ["fit", *SMALL, *root, "--trainer.max_steps", "-5"]) == (
        "drnet fit: error: `max_steps` must be a non-negative integer or -1 (infinite steps). "
        "You passed in -5.")


def test_a_failed_download_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = "http://127.0.0.1:9/drn_weights.pth"  # the discard port: connection refused
    line = _error(capsys, ["fit", *SMALL, "--trainer.default_root_dir", str(tmp_path / "r"),
                           "--model.pretrained", url])
    assert url in line
    assert "drn_weights.pth" in line
    assert str(tmp_path / "torch") in line  # where to place the file by hand


def test_long_work_is_refused_before_it_starts(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "m.onnx"
    assert _error(capsys, ["export", "drnseg_d_tiny", "--output", str(out)]).startswith(
        f"drnet export: error: cannot write in {blocker}")
    line = _error(capsys, ["bench", "drn_d_tiny", "--input", "100000x100000"])
    assert line.startswith("drnet bench: error: an input of 1x3x100000x100000 needs about ")
    assert "GiB are free on cpu" in line


def test_an_input_of_another_dtype_is_refused_clearly() -> None:
    model = drnet.create_model("drnseg_d_tiny", num_classes=3).eval()
    with pytest.raises(TypeError, match=r"float32 weights but got a torch.float16 input"):
        model(torch.randn(1, 3, 32, 32, dtype=torch.float16))
    with pytest.raises(TypeError, match=r"uint8 input"):
        model.backbone(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast decides: allowed
        assert model(torch.randn(1, 3, 32, 32)).dtype == torch.bfloat16


def test_drnet_traceback_shows_the_traceback(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    command = [sys.executable, "-m", "drnet.cli", "validate", "--ckpt_path", str(empty),
               "--trainer.default_root_dir", str(tmp_path / "r")]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "DRNET_TRACEBACK": ""})
    loud = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DRNET_TRACEBACK": "1"})
    assert quiet.returncode == 2
    assert "Traceback" not in quiet.stderr
    assert loud.returncode == 1
    assert "Traceback" in loud.stderr
    assert "CheckpointError" in loud.stderr
