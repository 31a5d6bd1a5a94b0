"""Prediction writer: label PNGs and colour overlays (segmentation), a CSV (classification),
boxes drawn on the image and a CSV (detection); file names and refusals in
:mod:`drnet.tasks.prediction_files`, the CSVs in :mod:`drnet.tasks.prediction_table`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from drnet.data.segmentation.voc import voc_colormap
from drnet.tasks import detection_writer
from drnet.tasks.detection_writer import DETECTION_PALETTE, detection_rows, draw_detections
from drnet.tasks.prediction_files import (
    TABLE_NAMES,
    OutputNames,
    check_output_dir,
    output_root,
)
from drnet.tasks.prediction_table import RunTable, merge_parts, remove_parts

CLASSIFICATION_CSV = "predictions.csv"
HEADERS = {CLASSIFICATION_CSV: ("path", "rank", "class", "probability"),
           detection_writer.CSV_NAME: detection_writer.CSV_HEADER}


def colourise(labels: np.ndarray, palette: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """(H, W) integer labels -> (H, W, 3) uint8 colours; unknown labels are black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    return table[np.clip(labels, 0, 255)]


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict`` returns into ``output_dir``, each input's files mirroring its
    path (``a/img.png`` -> ``a/img.png_labels.png``, see :mod:`drnet.tasks.prediction_files`).

    Segmentation: ``<name>_labels.png`` (class ids, 8-bit) and ``<name>_overlay.png`` (the
    image blended with the dataset's palette). Classification: top-5 rows in
    ``predictions.csv``. Detection (a ``boxes`` key): ``<name>_boxes.png`` with labelled boxes
    and ``detections.csv``. A CSV holds the rows of this run only, replaced when the run ends.
    An output folder that already holds predictions is refused before any work, unless
    ``overwrite`` (then this run's files replace theirs; other files are left alone).
    """

    def __init__(self, output_dir: str = "predictions", alpha: float = 0.5,
                 palette: list[tuple[int, int, int]] | None = None,
                 overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.alpha = alpha
        self.palette = palette
        self.overwrite = overwrite
        self.written: list[Path] = []
        self._names: OutputNames | None = None
        self._tables: dict[str, RunTable] = {}
        self._count = 0

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Every check before the first prediction; all processes pass them before any
        writes."""
        loaders = trainer.predict_dataloaders
        loaders = [] if loaders is None else (
            loaders if isinstance(loaders, list | tuple) else [loaders])
        datasets = [getattr(loader, "dataset", None) for loader in loaders]
        folders = [d.folder for d in datasets if getattr(d, "folder", None) is not None]
        check_output_dir(self.output_dir, self.overwrite, folders)
        if trainer.is_global_zero:
            remove_parts(self.output_dir, TABLE_NAMES)
        trainer.strategy.barrier("drnet-prediction-writer")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._names = OutputNames(self.output_dir, [output_root(d) for d in datasets],
                                  trainer.global_rank, trainer.world_size)
        self._tables, self.written, self._count = {}, [], 0

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           prediction: dict[str, Any] | None, batch_indices: Sequence[int] | None,
                           batch: dict[str, Any], batch_idx: int, dataloader_idx: int) -> None:
        if prediction is None:  # a batch of skipped (bad) samples
            return
        count = len(prediction["labels" if "labels" in prediction else "indices"])
        indices = list(batch_indices) if batch_indices else list(
            range(self._count, self._count + count))
        self._count += count
        paths = prediction.get("path") or [None] * count
        if self._names is None:  # called outside trainer.predict
            self._names = OutputNames(self.output_dir, [])
        bases = [self._names.base(path, index, dataloader_idx)
                 for path, index in zip(paths, indices, strict=True)]
        rows = [str(path) if path is not None else base.name
                for path, base in zip(paths, bases, strict=True)]
        if "boxes" in prediction:
            self._write_detection(trainer, pl_module, prediction, batch, indices, rows, bases)
        elif "labels" in prediction:
            self._write_segmentation(trainer, prediction, batch, bases)
        else:
            self._write_classification(trainer, pl_module, prediction, indices, rows)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Process 0 merges every process's CSV rows and replaces the CSVs."""
        for table in self._tables.values():
            table.close()
        started = torch.tensor([[name in self._tables for name in TABLE_NAMES]],
                               dtype=torch.int32, device=pl_module.device)
        started = trainer.strategy.all_gather(started).reshape(-1, len(TABLE_NAMES)).cpu()
        if trainer.is_global_zero:
            for column, name in enumerate(TABLE_NAMES):
                ranks = [r for r in range(started.shape[0]) if started[r, column]]
                if ranks:
                    merge_parts(self.output_dir / name, HEADERS[name], ranks)
                    self.written.append(self.output_dir / name)
        trainer.strategy.barrier("drnet-prediction-tables")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        for table in self._tables.values():
            table.discard()  # the CSVs stay as they were before the run

    def _table(self, trainer: L.Trainer, name: str) -> RunTable:
        if name not in self._tables:
            self._tables[name] = RunTable(self.output_dir / name, trainer.global_rank)
        return self._tables[name]

    def _save(self, image: Image.Image, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target)
        self.written.append(target)

    def _write_segmentation(self, trainer: L.Trainer, prediction: dict[str, Any],
                            batch: dict[str, Any], bases: Sequence[Path]) -> None:
        datamodule = trainer.datamodule
        palette = self.palette or getattr(datamodule, "palette", None) or voc_colormap(256)
        mean = torch.tensor(getattr(datamodule, "mean", (0.0, 0.0, 0.0))).view(3, 1, 1)
        std = torch.tensor(getattr(datamodule, "std", (1.0, 1.0, 1.0))).view(3, 1, 1)
        for i, (labels, base) in enumerate(zip(prediction["labels"], bases, strict=True)):
            ids = labels.cpu().numpy().astype(np.uint8)
            self._save(Image.fromarray(ids, mode="L"), Path(f"{base}_labels.png"))
            image = (batch["image"][i].float().cpu() * std + mean).clamp(0, 1)
            rgb = image.permute(1, 2, 0).numpy() * 255
            blend = (1 - self.alpha) * rgb + self.alpha * colourise(ids, palette)
            self._save(Image.fromarray(blend.round().astype(np.uint8)),
                       Path(f"{base}_overlay.png"))

    def _write_detection(self, trainer: L.Trainer, pl_module: L.LightningModule,
                         prediction: dict[str, Any], batch: dict[str, Any],
                         indices: Sequence[int], paths: Sequence[str],
                         bases: Sequence[Path]) -> None:
        data = trainer.datamodule
        names = getattr(pl_module, "class_names", None)
        palette = self.palette or getattr(data, "palette", None) or DETECTION_PALETTE
        mean, std = getattr(data, "mean", (0.0,) * 3), getattr(data, "std", (1.0,) * 3)
        table = self._table(trainer, detection_writer.CSV_NAME)
        for i, (index, path, base) in enumerate(zip(indices, paths, bases, strict=True)):
            table.add(index, detection_rows(path, prediction, i, names))
            self._save(draw_detections(batch["image"][i], prediction, i, names, palette, mean,
                                       std), Path(f"{base}_boxes.png"))

    def _write_classification(self, trainer: L.Trainer, pl_module: L.LightningModule,
                              prediction: dict[str, Any], indices: Sequence[int],
                              paths: Sequence[str]) -> None:
        names = getattr(pl_module, "class_names", None)
        table = self._table(trainer, CLASSIFICATION_CSV)
        for index, path, idx, prob in zip(indices, paths, prediction["indices"],
                                          prediction["probs"], strict=True):
            table.add(index, [[path, rank + 1, names[c] if names else c, f"{p:.5f}"]
                              for rank, (c, p) in enumerate(zip(idx.tolist(), prob.tolist(),
                                                                strict=True))])
