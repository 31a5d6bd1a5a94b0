"""Detections for :class:`~drnet.tasks.writers.PredictionWriter`: the image with its boxes,
class names and scores drawn, and one CSV row per box."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

CSV_NAME = "detections.csv"
CSV_HEADER = ("path", "label", "class", "score", "x1", "y1", "x2", "y2")
# Bright colours that stand out on photos; label k is drawn in colour k mod 8.
DETECTION_PALETTE: list[tuple[int, int, int]] = [
    (255, 64, 64), (64, 220, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255), (0, 220, 220),
    (255, 128, 0), (160, 90, 255)]


def _names(labels: Sequence[int], class_names: Sequence[str] | None) -> list[str]:
    return [class_names[k] if class_names and k < len(class_names) else str(k) for k in labels]


def detection_rows(path: str, prediction: dict[str, Any], i: int,
                   class_names: Sequence[str] | None) -> list[list[Any]]:
    """The CSV rows (:data:`CSV_HEADER`) of image ``i`` of a batch's ``prediction``."""
    labels = prediction["labels"][i].tolist()
    scores = prediction["scores"][i].tolist()
    boxes = prediction["boxes"][i].detach().float().cpu().tolist()
    return [[path, label, name, f"{score:.4f}", *(f"{v:.1f}" for v in box)]
            for label, name, score, box in zip(labels, _names(labels, class_names), scores,
                                               boxes, strict=True)]


def draw_detections(image: torch.Tensor, prediction: dict[str, Any], i: int,
                    class_names: Sequence[str] | None,
                    palette: Sequence[tuple[int, int, int]], mean: Sequence[float],
                    std: Sequence[float]) -> Image.Image:
    """Image ``i`` (normalised by ``mean``/``std``, drawn back in [0, 255]) with its boxes,
    labelled ``<class> <score>`` in the label's colour."""
    labels = prediction["labels"][i].tolist()
    scores = prediction["scores"][i].tolist()
    shift = torch.tensor(mean).view(3, 1, 1)
    scale = torch.tensor(std).view(3, 1, 1)
    pixels = (image.detach().float().cpu() * scale + shift).clamp(0, 1) * 255
    drawn = draw_bounding_boxes(
        pixels.round().to(torch.uint8), prediction["boxes"][i].detach().float().cpu(),
        labels=[f"{n} {s:.2f}" for n, s in zip(_names(labels, class_names), scores,
                                                strict=True)],
        colors=[tuple(palette[k % len(palette)]) for k in labels], width=2)
    return Image.fromarray(drawn.permute(1, 2, 0).numpy())
