"""Segmentation metrics against hand-computed confusion matrices."""

from __future__ import annotations

import math

import torch

from drnet.tasks.metrics import SegmentationMetrics, format_class_table, scores_from_confusion


def test_hand_computed_example_with_ignore_and_absent_classes() -> None:
    # 4 classes; class 3 never occurs nor is predicted; 255 pixels are ignored.
    target = torch.tensor([[0, 0, 1, 1, 2, 255],
                           [0, 1, 1, 2, 2, 255]])
    preds = torch.tensor([[0, 1, 1, 1, 2, 3],
                          [0, 1, 2, 2, 0, 3]])
    metric = SegmentationMetrics(num_classes=4)
    metric.update(preds[None], target[None])
    scores = metric.compute()
    # Confusion (rows target): class0: [2,1,0,0]; class1: [0,3,1,0]; class2: [1,0,2,0]
    # IoU0 = 2/(3+3-2) = 0.5; IoU1 = 3/(4+4-3) = 0.6; IoU2 = 2/(3+3-2) = 0.5; IoU3 undefined.
    expected = torch.tensor([0.5, 0.6, 0.5], dtype=torch.float64)
    torch.testing.assert_close(scores["iou"][:3], expected)
    assert math.isnan(scores["iou"][3])
    assert math.isclose(float(scores["mIoU"]), (0.5 + 0.6 + 0.5) / 3)
    assert math.isclose(float(scores["pixel_acc"]), 7 / 10)
    assert math.isclose(float(scores["mean_acc"]), (2 / 3 + 3 / 4 + 2 / 3) / 3)


def test_predicted_but_absent_class_counts_zero() -> None:
    target = torch.zeros(1, 2, 2, dtype=torch.long)
    preds = torch.tensor([[[0, 0], [0, 1]]])
    scores = SegmentationMetrics(num_classes=3).forward(preds, target)
    assert float(scores["iou"][1]) == 0.0
    assert math.isclose(float(scores["mIoU"]), (3 / 4 + 0) / 2)


def test_logits_and_batches_accumulate_over_the_whole_set() -> None:
    metric = SegmentationMetrics(num_classes=2, ignore_index=None)
    for _ in range(3):
        target = torch.randint(0, 2, (2, 5, 5))
        logits = torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).float()
        metric.update(logits, target)
    assert float(metric.compute()["mIoU"]) == 1.0
    assert int(metric.confmat.sum()) == 150


def test_only_ignore_pixels_gives_nan_not_a_crash() -> None:
    scores = scores_from_confusion(torch.zeros(3, 3, dtype=torch.long))
    assert math.isnan(float(scores["mIoU"]))
    assert math.isnan(float(scores["pixel_acc"]))


def test_table_lists_every_class() -> None:
    scores = scores_from_confusion(torch.tensor([[3, 1], [0, 0]]))
    table = format_class_table(scores, ["road", "sky"])
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:4]}
    assert rows == {"road": ["75.00", "75.00"], "sky": ["0.00", "n/a"]}
    assert table.splitlines()[-1].startswith("mIoU 37.50")
