"""Detections on disk: the image with its boxes, class names and scores drawn (PNG), and one
CSV row per box, for :class:`~drnet.tasks.writers.PredictionWriter`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

CSV_NAME = "detections.csv"
# Bright colours that stand out on photos; label k is drawn in colour k mod 8.
DETECTION_PALETTE: list[tuple[int, int, int]] = [
    (255, 64, 64), (64, 220, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255), (0, 220, 220),
    (255, 128, 0), (160, 90, 255)]


def write_detections(output_dir: Path, prediction: dict[str, Any], images: Sequence[torch.Tensor],
                     paths: Sequence[str], class_names: Sequence[str] | None,
                     palette: Sequence[tuple[int, int, int]], mean: Sequence[float],
                     std: Sequence[float]) -> list[Path]:
    """``<stem>_boxes.png`` per image (``images`` normalised by ``mean``/``std``, drawn back in
    [0, 255]) and rows appended to ``detections.csv``; returns the files written."""
    table = output_dir / CSV_NAME
    new = not table.exists()
    written = [] if not new else [table]
    shift = torch.tensor(mean).view(3, 1, 1)
    scale = torch.tensor(std).view(3, 1, 1)
    with table.open("a", newline="") as handle:
        rows = csv.writer(handle)
        if new:
            rows.writerow(["path", "label", "class", "score", "x1", "y1", "x2", "y2"])
        for i, path in enumerate(paths):
            boxes = prediction["boxes"][i].detach().float().cpu()
            labels = prediction["labels"][i].tolist()
            scores = prediction["scores"][i].tolist()
            names = [class_names[k] if class_names and k < len(class_names) else str(k)
                     for k in labels]
            for label, name, score, box in zip(labels, names, scores, boxes.tolist(),
                                               strict=True):
                rows.writerow([path, label, name, f"{score:.4f}",
                               *(f"{v:.1f}" for v in box)])
            pixels = ((images[i].detach().float().cpu() * scale + shift).clamp(0, 1) * 255)
            drawn = draw_bounding_boxes(
                pixels.round().to(torch.uint8), boxes,
                labels=[f"{n} {s:.2f}" for n, s in zip(names, scores, strict=True)],
                colors=[tuple(palette[k % len(palette)]) for k in labels], width=2)
            target = output_dir / f"{Path(str(path)).stem}_boxes.png"
            Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(target)
            written.append(target)
    return written
