"""Issue 6: bad input gives a clear error naming the file or argument; checkpoints are read
with weights_only and written atomically; bad samples can be skipped and counted.

(The SIGKILL/resume test is in test_resume.py; malicious-pickle refusal by load_pretrained in
test_weights.py; bad model arguments in test_model_contract.py.)"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from drnet.cli import main
from drnet.data import FolderSegmentationDataModule, folder_dataset
from drnet.data.bad_samples import BadSampleError
from drnet.data.images import read_image
from drnet.models import CheckpointError
from drnet.tasks.checkpoint_io import AtomicCheckpointIO, atomic_save
from drnet.tasks.metrics import SegmentationMetrics
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _pair(root: Path, stem: str, size: tuple[int, int] = (12, 10), value: int = 1,
          split: str = "train") -> tuple[Path, Path]:
    """An image (W x H = size) and its mask in the generic folder layout."""
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "masks" / split).mkdir(parents=True, exist_ok=True)
    image = root / "images" / split / f"{stem}.png"
    mask = root / "masks" / split / f"{stem}.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(image)
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8), "L").save(mask)
    return image, mask


# ---------------------------------------------------------------- data: one test per bad input

def test_truncated_image_names_the_file(tmp_path: Path) -> None:
    image, _ = _pair(tmp_path, "cut")
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadSampleError, match=r"image .*cut\.png cannot be decoded"):
        folder_dataset(tmp_path, "train", num_classes=3)[0]


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    image, _ = _pair(tmp_path, "text")
    image.write_text("this is not a PNG")
    with pytest.raises(BadSampleError, match=r"image .*text\.png cannot be decoded"):
        folder_dataset(tmp_path, "train", num_classes=3)[0]
    image.write_bytes(b"")
    with pytest.raises(BadSampleError, match=r"text\.png"):
        read_image(image)


def test_mask_of_another_size_names_both_files(tmp_path: Path) -> None:
    _, mask = _pair(tmp_path, "a")
    Image.new("L", (5, 5)).save(mask)
    with pytest.raises(BadSampleError, match=r"mask .*a\.png is 5x5 but its image .*a\.png is "
                                             r"12x10"):
        folder_dataset(tmp_path, "train", num_classes=3)[0]


def test_mask_values_outside_the_classes_name_file_and_values(tmp_path: Path) -> None:
    _, mask = _pair(tmp_path, "a", value=7)
    with pytest.raises(BadSampleError, match=r"mask .*a\.png holds values that are neither a "
                                             r"class nor the ignore value: \[7\]"):
        folder_dataset(tmp_path, "train", num_classes=3)[0]
    Image.fromarray(np.full((10, 12), 255, np.uint8), "L").save(mask)  # the ignore label: fine
    assert set(folder_dataset(tmp_path, "train", num_classes=3)[0]["mask"].unique().tolist()) \
        == {255}


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "CMYK"])
def test_image_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    gray = np.linspace(0, 1, 12 * 10).reshape(10, 12)
    path = tmp_path / "img.png" if mode != "CMYK" else tmp_path / "img.jpg"
    if mode == "I;16":
        Image.fromarray((gray * 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray((gray * 255).astype(np.uint8), "L").convert(mode).save(
            path, quality=100) if mode == "CMYK" else Image.fromarray(
            (gray * 255).astype(np.uint8), "L").convert(mode).save(path)
    rgb = np.asarray(read_image(path)).astype(int)
    assert rgb.shape == (10, 12, 3)
    # A grey ramp stays a grey ramp: 16-bit values are scaled to 8 bits, not clipped to white.
    expected = (gray * 255).round()
    assert np.abs(rgb[..., 0] - expected).max() <= (3 if mode == "CMYK" else 1)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() <= 2


def test_empty_split_is_named(tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "masks" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"folder .*images.*train.*empty split"):
        folder_dataset(tmp_path, "train", num_classes=3)


def test_paths_with_spaces_and_non_ascii_names(tmp_path: Path) -> None:
    root = tmp_path / "my data sët"
    _pair(root, "straße 01 ü")
    sample = folder_dataset(root, "train", num_classes=3)[0]
    assert sample["path"].endswith("straße 01 ü.png")
    assert sample["mask"].shape == (10, 12)


def test_bad_samples_can_be_skipped_and_counted(tmp_path: Path) -> None:
    for stem in ("a", "b", "c", "d"):
        _pair(tmp_path, stem, split="val")
    _pair(tmp_path, "z", split="train")
    (tmp_path / "images" / "val" / "b.png").write_text("broken")
    _pair(tmp_path, "c", value=9, split="val")  # an out-of-range class
    strict = FolderSegmentationDataModule(str(tmp_path), num_classes=3, val_batch_size=2)
    with pytest.raises(BadSampleError, match=r"b\.png"):
        list(strict.val_dataloader())
    lenient = FolderSegmentationDataModule(str(tmp_path), num_classes=3, val_batch_size=2,
                                           skip_bad_samples=True, max_bad_fraction=0.5)
    with pytest.warns(UserWarning, match="skipped a bad sample"):
        batches = list(lenient.val_dataloader())
    paths = [Path(p).stem for batch in batches if batch is not None for p in batch["path"]]
    assert paths == ["a", "d"]
    assert lenient.bad_samples == 2


def test_a_bad_sample_in_a_worker_is_reported_in_one_line(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    for stem in ("a", "b"):
        _pair(tmp_path, stem, split="train")
        _pair(tmp_path, stem, split="val")
    (tmp_path / "images" / "train" / "b.png").write_text("broken")
    code = main(["fit", "--model", "drnet.tasks.SegmentationTask", "--model.model",
                 "drnseg_d_tiny", "--data", "drnet.data.FolderSegmentationDataModule",
                 "--data.root", str(tmp_path), "--data.num_classes", "3",
                 "--data.num_workers", "1", "--data.batch_size", "2", "--data.crop_size", "16",
                 "--trainer.max_steps", "1", "--trainer.default_root_dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Original Traceback" not in err
    assert f"image {tmp_path / 'images' / 'train' / 'b.png'} cannot be decoded" in err


def test_wrong_channel_count_names_the_expected_shape() -> None:
    from drnet import create_model

    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*shape \(1, 4, 9, 9\)"):
        create_model("drnseg_d_tiny", num_classes=2)(torch.randn(1, 4, 9, 9))


@pytest.mark.parametrize("size", [(1, 1), (1, 5), (3, 2), (17, 23)])
def test_tiny_and_non_divisible_inputs_work(size: tuple[int, int]) -> None:
    from drnet import create_model

    model = create_model("deeplabv3_resnet18", num_classes=2).eval()
    assert model(torch.randn(1, 3, *size)).shape == (1, 2, *size)


# ---------------------------------------------------------------- checkpoints

class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_resuming_from_a_malicious_checkpoint_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As torch < 2.6 (allowed by the project): a torch.load that does not ask for weights_only
    # unpickles anything, so every read on this path must ask.
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    evil = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "epoch": 0, "payload": _RunsCode(str(marker))}, evil)
    with pytest.raises(CheckpointError, match=r"refused to load .*last\.ckpt"):
        AtomicCheckpointIO().load_checkpoint(evil, weights_only=False)  # asks; is not obeyed
    code = main(["fit", "--data.num_train", "4", "--data.num_val", "2", "--data.image_size",
                 "48", "--trainer.max_steps", "1", "--ckpt_path", str(evil),
                 "--trainer.default_root_dir", str(tmp_path / "run")])
    assert code == 2
    assert "refused to load" in capsys.readouterr().err
    assert not marker.exists()


def test_crash_between_write_and_rename_keeps_the_previous_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.ckpt"
    atomic_save({"step": torch.tensor(1)}, target)
    before = target.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt("killed between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"step": torch.tensor(2), "big": torch.zeros(10_000)}, target)
    monkeypatch.undo()
    assert target.read_bytes() == before  # intact, and no temporary file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.load(target, weights_only=True)["step"] == 1
    atomic_save({"step": torch.tensor(3)}, target)
    assert torch.load(target, weights_only=True)["step"] == 3


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A learning rate of 1e12 blows the weights up after the first steps; last.ckpt is written
    # after every step, so the run must stop at the first non-finite loss without writing one.
    code = main(["fit", "--data.num_train", "32", "--data.num_val", "2", "--data.image_size",
                 "48", "--data.batch_size", "4", "--trainer.val_check_interval", "null",
                 "--model.lr", "1e12", "--model.warmup_iters", "0", "--checkpoint_every_n_steps",
                 "1", "--trainer.max_steps", "8", "--trainer.default_root_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    match = re.search(r"training loss is (nan|inf|-inf) at global step (\d+)", err)
    assert match, err
    state = torch.load(runs.checkpoint(tmp_path), weights_only=True)
    assert state["global_step"] == int(match[2])  # the last finished step, nothing after it


# ---------------------------------------------------------------- metric properties

_labels = st.integers(min_value=0, max_value=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_labels, _labels, st.booleans()), min_size=1, max_size=60),
       st.permutations([0, 1, 2, 3]))
def test_iou_is_invariant_to_relabelling_and_ignores_ignored_pixels(
        pixels: list[tuple[int, int, bool]], permutation: list[int]) -> None:
    target = torch.tensor([[t if not ignored else 255 for t, _, ignored in pixels]])
    preds = torch.tensor([[p for _, p, _ in pixels]])
    scores = SegmentationMetrics(4).forward(preds[None], target[None])
    # Relabel every class id in both maps: per-class IoU moves with its class, mIoU is equal.
    mapping = torch.tensor(permutation + [0] * 251 + [255])  # ids 0-3 permuted, 255 kept
    relabelled = SegmentationMetrics(4).forward(mapping[preds][None], mapping[target][None])
    torch.testing.assert_close(relabelled["mIoU"], scores["mIoU"], equal_nan=True)
    torch.testing.assert_close(relabelled["iou"][torch.tensor(permutation)], scores["iou"],
                               equal_nan=True)
    # Predictions at ignored pixels never count: change them all, nothing changes.
    other = torch.where(target == 255, (preds + 1) % 4, preds)
    torch.testing.assert_close(SegmentationMetrics(4).forward(other[None], target[None])["iou"],
                               scores["iou"], equal_nan=True)
    metric = SegmentationMetrics(4)
    metric.update(preds[None], target[None])
    assert int(metric.confmat.sum()) == int((target != 255).sum())
