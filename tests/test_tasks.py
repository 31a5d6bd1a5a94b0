"""Lightning tasks on tiny in-memory data: losses, schedules, metrics, prediction writing."""

from __future__ import annotations

import math
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from drnet.data.segmentation.voc import voc_colormap
from drnet.tasks import ClassificationTask, SegmentationTask
from drnet.tasks.optim import lr_factor
from drnet.tasks.writers import PredictionWriter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


class _Squares(Dataset):
    """A bright square (class 1) on a dark background (class 0); border pixels ignored."""

    def __init__(self, n: int, size: int = 32) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        mask = torch.zeros(self.size, self.size, dtype=torch.long)
        top, left = torch.randint(0, self.size // 2, (2,), generator=g).tolist()
        mask[top:top + 12, left:left + 12] = 1
        image = (mask.float() * 2 - 1).expand(3, -1, -1) + 0.1 * torch.randn(
            3, self.size, self.size, generator=g)
        mask[0, :] = 255
        return {"image": image, "mask": mask, "target": int(mask.eq(1).sum() > 100),
                "path": f"sample_{i}.png"}


class _Data(L.LightningDataModule):
    num_classes = 2
    class_names = ("background", "square")
    palette = ((0, 0, 0), (255, 0, 0))
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Squares(16), batch_size=4, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Squares(4), batch_size=2)

    test_dataloader = val_dataloader

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_Squares(3), batch_size=2)


def _trainer(tmp_path, **kwargs) -> L.Trainer:
    defaults = {"default_root_dir": tmp_path, "logger": False, "enable_checkpointing": False,
                "enable_progress_bar": False, "enable_model_summary": False,
                "accelerator": "cpu", "deterministic": True}
    return L.Trainer(**{**defaults, **kwargs})


def test_segmentation_task_learns_and_reports_full_image_metrics(tmp_path) -> None:
    L.seed_everything(0)
    task = SegmentationTask(model="drnseg_d_tiny", num_classes=2, aux_weight=0.4, lr=0.02,
                            class_names=["background", "square"], print_class_table=False)
    trainer = _trainer(tmp_path, max_epochs=6)
    # Validating first also guards against metric state created under inference mode
    # breaking the no_grad validation inside fit.
    before = trainer.validate(task, datamodule=_Data(), verbose=False)[0]
    trainer.fit(task, datamodule=_Data())
    scores = trainer.validate(task, datamodule=_Data(), verbose=False)[0]
    assert scores["val/mIoU"] > before["val/mIoU"] + 0.15  # learning happened
    assert 0 <= scores["val/pixel_acc"] <= 1
    assert trainer.global_step == 24


def test_segmentation_head_gets_ten_times_the_learning_rate(tmp_path) -> None:
    task = SegmentationTask(model="drnseg_d_tiny", num_classes=2, lr=0.01, head_lr_mult=10,
                            warmup_iters=2)
    trainer = _trainer(tmp_path, max_steps=4)
    trainer.fit(task, datamodule=_Data())
    groups = trainer.optimizers[0].param_groups
    assert len(groups) == 2
    assert groups[1]["initial_lr"] == pytest.approx(10 * groups[0]["initial_lr"])
    backbone = {id(p) for p in task.model.backbone.parameters()}
    assert all(id(p) in backbone for p in groups[0]["params"])


def test_poly_schedule_with_warmup_by_hand() -> None:
    f = lr_factor("poly", total_steps=100, warmup_iters=10, warmup_ratio=0.1, power=0.9)
    assert f(0) == pytest.approx(0.1)
    assert f(5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(10) == pytest.approx((1 - 0.1) ** 0.9)
    assert f(100) == 0.0
    cosine = lr_factor("cosine", total_steps=10)
    assert cosine(5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    with pytest.raises(ValueError, match="schedule must be"):
        lr_factor("step", 10)  # type: ignore[arg-type]


def test_nan_loss_stops_with_the_step_named(tmp_path) -> None:
    task = SegmentationTask(model="drnseg_d_tiny", num_classes=2, lr=1e30)
    with pytest.raises(FloatingPointError, match="at global step"):
        _trainer(tmp_path, max_epochs=3).fit(task, datamodule=_Data())


def test_classification_nan_loss_stops_with_the_step_named() -> None:
    task = ClassificationTask(model="resnet18", num_classes=3)
    batch = {"image": torch.full((2, 3, 32, 32), float("nan")), "target": torch.tensor([0, 1])}
    with pytest.raises(FloatingPointError, match=r"training loss is nan at global step 0"):
        task.training_step(batch, 0)


def test_task_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="segmentation model"):
        SegmentationTask(model="resnet18", num_classes=2)
    with pytest.raises(ValueError, match="class_weights needs 2 values"):
        SegmentationTask(model="drnseg_d_tiny", num_classes=2, class_weights=[1.0])


def test_prediction_writer_writes_label_and_overlay_pngs(tmp_path) -> None:
    task = SegmentationTask(model="drnseg_d_tiny", num_classes=2)
    writer = PredictionWriter(str(tmp_path / "out"))
    _trainer(tmp_path, callbacks=[writer]).predict(task, datamodule=_Data(),
                                                  return_predictions=False)
    labels = sorted(p.name for p in (tmp_path / "out").glob("*_labels.png"))
    assert labels == ["sample_0.png_labels.png", "sample_1.png_labels.png",
                      "sample_2.png_labels.png"]  # the input file name, then the kind
    label = Image.open(tmp_path / "out" / "sample_0.png_labels.png")
    overlay = Image.open(tmp_path / "out" / "sample_0.png_overlay.png")
    assert label.mode == "L"
    assert label.size == (32, 32)
    assert overlay.mode == "RGB"
    assert overlay.size == (32, 32)
    assert set(np.asarray(label).ravel().tolist()) <= {0, 1}


def test_segmentation_files_hold_the_labels_and_the_palette_blend(tmp_path) -> None:
    """By hand: the label PNG is the class ids; the overlay is the *input* pixels (the batch
    holds them normalised, so the writer must undo ``(x / 255 - mean) / std``) blended with
    each label's palette colour, ``(1 - alpha) * pixel + alpha * colour``."""
    labels = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 2, 2]])
    pixels = torch.tensor(np.random.default_rng(0).integers(0, 256, (3, 3, 4)), dtype=torch.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    image = (pixels / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    palette = [(10, 20, 30), (200, 100, 0), (0, 255, 64), (255, 255, 255)]
    trainer = SimpleNamespace(datamodule=SimpleNamespace(palette=palette, mean=mean, std=std))
    writer = PredictionWriter(str(tmp_path), alpha=0.25)
    writer.write_on_batch_end(trainer, None, {"labels": labels[None], "path": ["in/x.png"]},
                              [0], {"image": image[None]}, 0, 0)
    written = np.asarray(Image.open(tmp_path / "x.png_labels.png"))
    assert written.tolist() == labels.tolist()
    overlay = np.asarray(Image.open(tmp_path / "x.png_overlay.png")).astype(np.float64)
    colours = np.array(palette, dtype=np.float64)[labels.numpy()]
    expected = 0.75 * pixels.permute(1, 2, 0).numpy() + 0.25 * colours
    assert np.abs(overlay - expected).max() <= 0.501  # rounded to 8 bits


def test_classification_task(tmp_path) -> None:
    task = ClassificationTask(model="resnet18", num_classes=2, lr=0.01)
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(task, datamodule=_Data())
    scores = trainer.validate(task, datamodule=_Data(), verbose=False)[0]
    assert set(scores) == {"val/top1"}  # no top-2 of two classes: it would always be 1.0
    writer = PredictionWriter(str(tmp_path / "out"))
    _trainer(tmp_path, callbacks=[writer]).predict(task, datamodule=_Data(),
                                                  return_predictions=False)
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "path,rank,class,probability"
    assert len(rows) == 1 + 3 * 2  # three images, top-2 (two classes)


@pytest.mark.parametrize(("num_classes", "logged"), [
    (2, {"top1"}), (4, {"top1"}), (5, {"top1"}), (6, {"top1", "top5"}), (1000, {"top1", "top5"})])
def test_top_k_only_below_the_number_of_classes(num_classes: int, logged: set[str]) -> None:
    task = ClassificationTask(model="drn_d_tiny", num_classes=num_classes)
    assert set(task.metrics["val"]) == set(task.metrics["test"]) == logged


def test_default_palette_is_voc() -> None:
    palette = voc_colormap(4)  # the writer's palette when the data module has none
    assert palette == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
