"""Issue 13, item 4: bad samples are counted once per file, also across DataLoader workers; a run
with no usable training sample, or with more bad files than ``max_bad_fraction``, stops with an
error naming the data set."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from drnet.cli import main
from drnet.data import folder_dataset
from drnet.data.bad_samples import collate_dicts

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _folder(root: Path, good: int, bad: int, split: str = "train") -> Path:
    """``good`` usable image/mask pairs and ``bad`` pairs whose image is not a PNG."""
    for sub in ("images", "masks"):
        (root / sub / split).mkdir(parents=True, exist_ok=True)
    for k in range(good + bad):
        image = root / "images" / split / f"{k:02d}.png"
        pixels = np.random.default_rng(k).integers(0, 255, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(image)
        Image.fromarray(np.full((20, 20), k % 3, np.uint8), "L").save(
            root / "masks" / split / f"{k:02d}.png")
        if k >= good:
            image.write_text("not a PNG")
    return root


def _fit(root: Path, tmp_path: Path, *extra: str) -> int:
    return main(["fit", "--model", "drnet.tasks.SegmentationTask", "--model.model",
                 "drnseg_d_tiny", "--data", "drnet.data.FolderSegmentationDataModule",
                 "--data.root", str(root), "--data.num_classes", "3", "--data.batch_size", "2",
                 "--data.crop_size", "16", "--data.skip_bad_samples", "true",
                 "--trainer.default_root_dir", str(tmp_path / "run"), *extra])


def _first_error_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("drnet "))


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_files_are_counted_once_however_often_they_are_read(tmp_path: Path,
                                                                workers: int) -> None:
    dataset = folder_dataset(_folder(tmp_path, good=20, bad=12), "train", num_classes=3)
    dataset.skip_bad = True
    loader = DataLoader(dataset, batch_size=3, num_workers=workers, collate_fn=collate_dicts,
                        persistent_workers=workers > 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):  # three epochs: every bad file is read three times
            usable = sum(len(b["path"]) for b in loader if b is not None)
    assert usable == 20
    assert dataset.bad_samples == 12  # files, not reads (36), and no increment lost
    if workers == 0:  # (warnings in worker processes go to their own stderr)
        assert sum("skipped a bad sample" in str(w.message) for w in caught) == 12


def test_the_end_of_run_report_counts_files_not_reads(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data", good=5, bad=1)
    _folder(root, good=2, bad=0, split="val")
    assert _fit(root, tmp_path, "--data.num_workers", "2", "--data.max_bad_fraction", "0.2",
                "--trainer.max_epochs", "3") == 0
    assert "fit: skipped 1 bad file (train 1;" in capsys.readouterr().out  # read 3 times


def test_a_run_with_no_usable_training_sample_stops_naming_the_data_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data", good=0, bad=3)
    _folder(root, good=2, bad=0, split="val")
    # max_bad_fraction 1 never stops for the share of bad files: the empty epoch must. Before,
    # such a run went on epoch after epoch at step 0 (bounded here by max_epochs).
    code = _fit(root, tmp_path, "--data.max_bad_fraction", "1", "--trainer.max_steps", "5",
                "--trainer.max_epochs", "4")
    assert code == 2
    assert _first_error_line(capsys.readouterr().err) == (
        f"drnet fit: error: folder {root / 'images' / 'train'}: no usable sample in epoch 0 "
        "of the train data: its 2 batches held only bad files (3 skipped, each named in a "
        "warning above)")


def test_more_bad_files_than_max_bad_fraction_stop_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data", good=3, bad=1)
    _folder(root, good=2, bad=0, split="val")
    code = _fit(root, tmp_path, "--data.num_workers", "1", "--trainer.max_steps", "5")
    assert code == 2  # the default max_bad_fraction is 0.05: 1 of 4 is too many
    assert _first_error_line(capsys.readouterr().err) == (
        f"drnet fit: error: folder {root / 'images' / 'train'}: 1 of 4 files are bad (25.0% is "
        "more than max_bad_fraction=0.05 allows); fix or remove them (each is named in a "
        "warning above) or raise --data.max_bad_fraction")


def test_max_bad_fraction_must_be_a_fraction(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data", good=2, bad=0)
    assert _fit(root, tmp_path, "--data.max_bad_fraction", "1.5") == 2
    assert _first_error_line(capsys.readouterr().err) == (
        "drnet fit: error: max_bad_fraction must be in [0, 1] (the share of a split's files "
        "that may be skipped as bad), got 1.5")
