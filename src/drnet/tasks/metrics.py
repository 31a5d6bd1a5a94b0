"""Segmentation metrics from one confusion matrix accumulated over the whole evaluation set.

Convention (as the Cityscapes and VOC benchmarks, and the official DRN evaluation): pixels
labelled ``ignore_index`` are dropped with their predictions; a class's IoU is
TP / (TP + FP + FN) over the whole set; mIoU averages the classes that occur in the target or
the prediction (a class that is never present nor predicted has no IoU and is left out; one
predicted but never present scores 0). The matrix is summed across processes (torchmetrics).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix


class SegmentationMetrics(MulticlassConfusionMatrix):
    """Confusion matrix (rows: target, columns: prediction) with IoU-style summaries."""

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        super().__init__(num_classes=num_classes, ignore_index=ignore_index,
                         validate_args=False)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """``preds``: logits/probabilities (N, C, H, W) or labels (N, H, W)."""
        if preds.ndim == target.ndim + 1:
            preds = preds.argmax(dim=1)
        super().update(preds, target)

    def reset(self) -> None:
        # Lightning evaluates under inference mode; a state created there would be an
        # inference tensor that a later validation under no_grad (during fit) cannot update.
        with torch.inference_mode(False):
            super().reset()

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        return scores_from_confusion(super().compute())


def scores_from_confusion(confmat: Tensor) -> dict[str, Tensor]:
    """mIoU, per-class IoU (NaN where undefined), pixel accuracy and mean class accuracy."""
    confmat = confmat.double()
    tp = confmat.diagonal()
    in_target = confmat.sum(dim=1)
    predicted = confmat.sum(dim=0)
    union = in_target + predicted - tp
    nan = torch.tensor(float("nan"), dtype=confmat.dtype, device=confmat.device)
    iou = torch.where(union > 0, tp / union.clamp(min=1), nan)
    accuracy = torch.where(in_target > 0, tp / in_target.clamp(min=1), nan)
    total = confmat.sum()
    return {
        "mIoU": iou.nanmean(),
        "pixel_acc": tp.sum() / total if total > 0 else nan,
        "mean_acc": accuracy.nanmean(),
        "iou": iou,
        "acc": accuracy,
    }


def format_class_table(scores: dict[str, Tensor], class_names: Sequence[str]) -> str:
    """Per-class IoU/accuracy table in percent, with the summary line under it."""
    width = max(len("class"), *(len(n) for n in class_names))
    lines = [f"{'class':<{width}}  {'IoU':>6}  {'acc':>6}", f"{'-' * width}  ------  ------"]
    for name, iou, acc in zip(class_names, scores["iou"].tolist(), scores["acc"].tolist(),
                              strict=True):
        lines.append(f"{name:<{width}}  {_pct(iou)}  {_pct(acc)}")
    lines.append(f"{'-' * width}  ------  ------")
    lines.append(f"mIoU {_pct(float(scores['mIoU'])).strip()}  pixel acc "
                 f"{_pct(float(scores['pixel_acc'])).strip()}  mean acc "
                 f"{_pct(float(scores['mean_acc'])).strip()}")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "   n/a" if value != value else f"{100 * value:6.2f}"  # NaN != NaN
