"""DetectionTask: COCO mAP against hand-computed values, training, prediction drawing."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from drnet.data import SyntheticDetectionDataModule, collate_detection
from drnet.tasks import DetectionTask
from drnet.tasks.detection import mean_average_precision
from drnet.tasks.detection_writer import DETECTION_PALETTE, detection_rows, draw_detections
from drnet.tasks.writers import PredictionWriter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

GT = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([1])}


def _pred(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict:
    return {"boxes": torch.tensor(boxes).reshape(-1, 4), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels, dtype=torch.int64)}


def _map(preds: list[dict], targets: list[dict]) -> dict[str, float]:
    metric = mean_average_precision()
    metric.update(preds, targets)
    return {k: float(v) for k, v in metric.compute().items() if v.numel() == 1}


def test_map_perfect_boxes_score_one() -> None:
    scores = _map([_pred([[0, 0, 10, 10]], [0.9], [1])], [GT])
    assert scores["map"] == scores["map_50"] == scores["map_75"] == 1.0


def test_map_no_predictions_scores_zero() -> None:
    assert _map([_pred([], [], [])], [GT])["map"] == 0.0


def test_map_shifted_box_by_hand() -> None:
    # shifted 2 px: intersection 8 x 10 = 80, union 120, IoU 2/3. COCO's thresholds 0.50,
    # 0.55, ..., 0.95: it matches at 0.50-0.65 (4 of 10) with precision 1 at every recall, so
    # AP is 1 there and 0 above: mAP 0.4, AP50 1, AP75 0. Its area (100 px²) is "small".
    scores = _map([_pred([[2, 0, 12, 10]], [0.9], [1])], [GT])
    assert scores["map"] == pytest.approx(0.4)
    assert scores["map_50"] == 1.0
    assert scores["map_75"] == 0.0
    assert scores["map_small"] == pytest.approx(0.4)
    assert scores["map_medium"] == -1.0


def test_map_ranking_and_classes_by_hand() -> None:
    # A false positive scored above the true one: precision 1/2 at recall 1 -> AP 0.5.
    ranked = _map([_pred([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], [1, 1])], [GT])
    assert ranked["map"] == pytest.approx(0.5)
    # Two classes, one found exactly and one missed: the mean over classes is 0.5.
    two = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]]),
           "labels": torch.tensor([1, 2])}
    assert _map([_pred([[0, 0, 10, 10]], [0.9], [1])], [two])["map"] == pytest.approx(0.5)


class _Oracle(nn.Module):
    """Stands in for a detector: returns each image's ground truth, scored 0.9 (and a 0.2
    box that predict_min_score must drop)."""

    def __init__(self, targets: list[dict]) -> None:
        super().__init__()
        self.targets, self.calls = targets, 0
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        out = []
        for _ in images:
            t = self.targets[self.calls % len(self.targets)]
            self.calls += 1
            n = len(t["labels"])
            out.append({"boxes": torch.cat([t["boxes"], torch.tensor([[1.0, 1.0, 5.0, 5.0]])]),
                        "labels": torch.cat([t["labels"], torch.tensor([3])]),
                        "scores": torch.tensor([0.9] * n + [0.2])})
        return out


class _Data(L.LightningDataModule):
    class_names = ("background", "square", "disc", "triangle")
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

    def __init__(self) -> None:
        super().__init__()
        self.set = SyntheticDetectionDataModule(num_train=2, num_val=3, image_size=48,
                                                object_size=(4, 20))
        self.set.setup("fit")

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.set.datasets["val"], batch_size=2, collate_fn=collate_detection)

    def predict_dataloader(self) -> DataLoader:
        return self.val_dataloader()


def _oracle_task() -> tuple[DetectionTask, _Data]:
    data = _Data()
    task = DetectionTask("fasterrcnn_drn_d_tiny", num_classes=4,
                         class_names=list(data.class_names), min_size=48, max_size=48)
    task.model = _Oracle([data.set.datasets["val"][i]["target"] for i in range(3)])
    return task, data


def test_validation_logs_coco_map(tmp_path: Path) -> None:
    task, data = _oracle_task()
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    [scores] = trainer.validate(task, datamodule=data)
    # the 0.2 extra box is a false positive ranked below every true one: AP stays 1
    assert scores["val/map"] == pytest.approx(1.0)
    assert scores["val/map_small"] == pytest.approx(1.0)
    assert scores["val/map_large"] == -1.0  # no object over 96² px in 48 px images


def test_predict_draws_boxes_and_writes_csv(tmp_path: Path) -> None:
    task, data = _oracle_task()
    writer = PredictionWriter(str(tmp_path / "out"))
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[writer])
    trainer.predict(task, datamodule=data, return_predictions=False)
    with (tmp_path / "out" / "detections.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    targets = [data.set.datasets["val"][i]["target"] for i in range(3)]
    assert len(rows) == sum(len(t["labels"]) for t in targets)  # the 0.2 box was dropped
    first = rows[0]
    assert first["class"] == data.class_names[int(first["label"])]
    png = tmp_path / "out" / "000000.png_boxes.png"
    pixels = np.asarray(Image.open(png))
    assert pixels.shape == (48, 48, 3)
    # the first object's box: the middle of its bottom edge (the label text sits at the top)
    # is drawn in its label's colour
    (x1, _, x2, y2), label = targets[0]["boxes"][0].tolist(), int(targets[0]["labels"][0])
    edge = pixels[int(y2), int((x1 + x2) / 2)]
    assert tuple(edge) == DETECTION_PALETTE[label % len(DETECTION_PALETTE)]


def test_detections_are_drawn_with_their_label_and_listed_per_box() -> None:
    image = torch.full((3, 40, 60), 0.5)  # normalised by mean 0.5, std 0.25: pixel value 0.625
    prediction = {"boxes": [torch.tensor([[10.0, 8.0, 50.0, 36.0]])],
                  "labels": [torch.tensor([2])], "scores": [torch.tensor([0.875])]}
    names = ["background", "dog", "cat"]
    drawn = draw_detections(image, prediction, 0, names, DETECTION_PALETTE, (0.5,) * 3,
                            (0.25,) * 3)
    pixels = np.asarray(drawn).astype(int)
    grey = round(0.625 * 255)
    assert (pixels[:, :9] == grey).all()
    assert (pixels[:, 51:] == grey).all()
    assert tuple(pixels[30, 10]) == tuple(pixels[35, 30]) == DETECTION_PALETTE[2]  # the edges
    assert (pixels[11:20, 12:40] != grey).any()  # the label text, top left inside the box
    assert detection_rows("dir/cat.jpg", prediction, 0, names) == [
        ["dir/cat.jpg", 2, "cat", "0.8750", "10.0", "8.0", "50.0", "36.0"]]


def test_training_logs_every_loss_term(tmp_path: Path) -> None:
    task = DetectionTask("fasterrcnn_drn_d_tiny", num_classes=4, min_size=48, max_size=48,
                         head_lr_mult=10.0)
    data = SyntheticDetectionDataModule(num_train=2, num_val=1, image_size=48,
                                        object_size=(4, 20), batch_size=2)
    trainer = L.Trainer(default_root_dir=tmp_path, max_steps=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(task, datamodule=data)
    logged = set(trainer.callback_metrics)
    assert {"train/loss", "train/loss_classifier", "train/loss_box_reg",
            "train/loss_objectness", "train/loss_rpn_box_reg"} <= logged
    body, head = trainer.optimizers[0].param_groups
    assert head["initial_lr"] == pytest.approx(10 * body["initial_lr"])
    assert {id(p) for p in body["params"]} == {id(p) for p in task.model.backbone.body.parameters()}


def test_task_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="must be a detection model"):
        DetectionTask("drnseg_d_22", num_classes=4)
    with pytest.raises(ValueError, match="needs 4 names"):
        DetectionTask("fasterrcnn_drn_d_tiny", num_classes=4, class_names=["a"])
    with pytest.raises(ValueError, match="min_size"):
        DetectionTask("fasterrcnn_drn_d_tiny", num_classes=4, model_kwargs={"min_size": 64})
