"""What ``drnet fit|validate|test|predict`` print, through the real CLI: no Lightning
advertisements or warnings about its internals, results printed once, and plain progress lines
when stdout is not a terminal (as under pytest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drnet.cli import main
from drnet.configs import CONFIG_DIR
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

# Lines that concern Lightning, not the user's run.
NOISE = ("Tip:", "litlogger", "litmodels", "TPU available", "args parameter",
         "The dirpath has changed", "Validate metric", "Test metric", "DataLoader 0")


def run(argv: list[str], capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> str:
    """``drnet ARGV``'s output: both streams and the log records pytest took from them."""
    caplog.clear()
    assert main(argv) == 0
    out, err = capfd.readouterr()
    text = out + err + caplog.text
    assert [n for n in NOISE if n in text] == [], text
    return out


def test_segmentation_output(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                             caplog: pytest.LogCaptureFixture) -> None:
    small = ["--data.init_args.num_train", "8", "--data.init_args.num_val", "3",
             "--data.init_args.num_test", "2", "--data.init_args.image_size", "64",
             "--data.init_args.batch_size", "4", "--data.init_args.val_batch_size", "1",
             "--trainer.val_check_interval", "null", "--trainer.default_root_dir",
             str(tmp_path / "run")]
    out = run(["fit", *small, "--trainer.max_steps", "2"], capfd, caplog)
    assert out.count("mIoU") == 1  # the class table's summary; no second line of the same
    last = str(runs.checkpoint(tmp_path / "run", "last"))

    out = run(["validate", *small, "--ckpt_path", last], capfd, caplog)
    assert out.count("mIoU") == 1
    assert "validate: batch 3/3" in out

    out = run(["test", *small, "--ckpt_path", last], capfd, caplog)
    assert out.count("mIoU") == 1
    assert "test: batch 2/2" in out

    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(images / f"{name}.png")
    out = run(["predict", *small, "--ckpt_path", last, "--data.init_args.predict_path",
               str(images)], capfd, caplog)
    assert "predict: batch 2/2" in out


def test_classification_results_print_once(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                           caplog: pytest.LogCaptureFixture) -> None:
    config = ["--config", str(CONFIG_DIR / "synthetic_classification.yaml"),
              "--data.init_args.num_val", "8", "--data.init_args.num_test", "8",
              "--trainer.default_root_dir", str(tmp_path)]
    out = run(["validate", *config], capfd, caplog)
    assert out.count("val/top1") == 1
    assert out.count("validation: val/top1") == 1
    out = run(["test", *config], capfd, caplog)
    assert out.count("test/top1") == 1
    assert main(["test", *config, "--verbose", "true"]) == 0  # Lightning's table, asked for
    assert "Test metric" in capfd.readouterr().out
