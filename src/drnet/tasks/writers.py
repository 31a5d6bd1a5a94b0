"""Prediction writer: label PNGs and colour overlays (segmentation), a CSV (classification),
boxes drawn on the image (detection)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from drnet.tasks.detection_writer import DETECTION_PALETTE, write_detections


def default_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """The Pascal VOC colour map (bit-interleaved), distinct for up to 256 classes."""
    palette = []
    for label in range(num_classes):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette


def colourise(labels: np.ndarray, palette: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """(H, W) integer labels -> (H, W, 3) uint8 colours; unknown labels are black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    return table[np.clip(labels, 0, 255)]


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict`` returns into ``output_dir``.

    Segmentation: ``<stem>_labels.png`` (class ids, 8-bit) and ``<stem>_overlay.png`` (the
    image blended with the dataset's palette). Classification: top-5 rows in
    ``predictions.csv``. Detection (a ``boxes`` key): ``<stem>_boxes.png`` with labelled
    boxes and ``detections.csv``.
    """

    def __init__(self, output_dir: str = "predictions", alpha: float = 0.5,
                 palette: list[tuple[int, int, int]] | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.alpha = alpha
        self.palette = palette
        self.written: list[Path] = []

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           prediction: dict[str, Any] | None, batch_indices: Sequence[int] | None,
                           batch: dict[str, Any], batch_idx: int, dataloader_idx: int) -> None:
        if prediction is None:  # a batch of skipped (bad) samples
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        count = len(prediction["labels" if "labels" in prediction else "indices"])
        paths = prediction.get("path") or [f"image_{batch_idx:05d}_{i}" for i in range(count)]
        if "boxes" in prediction:
            self._write_detection(trainer, pl_module, prediction, batch, paths)
        elif "labels" in prediction:
            self._write_segmentation(trainer, prediction, batch, paths)
        else:
            self._write_classification(pl_module, prediction, paths)

    def _write_segmentation(self, trainer: L.Trainer, prediction: dict[str, Any],
                            batch: dict[str, Any], paths: Sequence[str]) -> None:
        datamodule = trainer.datamodule
        palette = self.palette or getattr(datamodule, "palette", None) or default_palette(256)
        mean = torch.tensor(getattr(datamodule, "mean", (0.0, 0.0, 0.0))).view(3, 1, 1)
        std = torch.tensor(getattr(datamodule, "std", (1.0, 1.0, 1.0))).view(3, 1, 1)
        for i, (labels, path) in enumerate(zip(prediction["labels"], paths, strict=True)):
            stem = Path(str(path)).stem
            ids = labels.cpu().numpy().astype(np.uint8)
            label_file = self.output_dir / f"{stem}_labels.png"
            Image.fromarray(ids, mode="L").save(label_file)
            image = (batch["image"][i].float().cpu() * std + mean).clamp(0, 1)
            rgb = image.permute(1, 2, 0).numpy() * 255
            blend = (1 - self.alpha) * rgb + self.alpha * colourise(ids, palette)
            overlay = self.output_dir / f"{stem}_overlay.png"
            Image.fromarray(blend.round().astype(np.uint8)).save(overlay)
            self.written += [label_file, overlay]

    def _write_detection(self, trainer: L.Trainer, pl_module: L.LightningModule,
                         prediction: dict[str, Any], batch: dict[str, Any],
                         paths: Sequence[str]) -> None:
        data = trainer.datamodule
        self.written += write_detections(
            self.output_dir, prediction, batch["image"], paths,
            getattr(pl_module, "class_names", None),
            self.palette or getattr(data, "palette", None) or DETECTION_PALETTE,
            getattr(data, "mean", (0.0, 0.0, 0.0)), getattr(data, "std", (1.0, 1.0, 1.0)))

    def _write_classification(self, pl_module: L.LightningModule, prediction: dict[str, Any],
                              paths: Sequence[str]) -> None:
        target = self.output_dir / "predictions.csv"
        names = getattr(pl_module, "class_names", None)
        new = not target.exists()
        with target.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["path", "rank", "class", "probability"])
            for path, idx, prob in zip(paths, prediction["indices"], prediction["probs"],
                                       strict=True):
                for rank, (c, p) in enumerate(zip(idx.tolist(), prob.tolist(), strict=True)):
                    writer.writerow([path, rank + 1, names[c] if names else c, f"{p:.5f}"])
        if target not in self.written:
            self.written.append(target)
