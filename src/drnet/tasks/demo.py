"""``drnet demo``: why dilation helps, measured on the built-in synthetic context set.

Three networks with identical weights at initialisation, data stream, steps and recipe:
(a) ``drn_d_tiny`` as published for DRNs (output stride 8, dilations 2-4-2-1), (b) the same
network with every dilation set to 1, (c) the same network striding instead of dilating
(output stride 32). The set's classes need both context (a band's class is written only in a
tag up to 120 px away) and resolution (2-3 px lines), so only (a) can get both right.

The recipe is AdamW with a one-cycle schedule: from scratch, SGD needed several times the steps
to learn to read the far tags (a sudden transition; see shared/notes.md and the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import numpy as np
import torch

from drnet.data import SyntheticContextDataModule
from drnet.tasks.demo_fields import PixelField, far_pixel, pixel_field
from drnet.tasks.segmentation import SegmentationTask

VARIANTS: dict[str, dict[str, Any]] = {
    "dilated (DRN)": {},
    "no dilation": {"dilations": (1,) * 8},
    "output stride 32": {"output_stride": 32},
}


@dataclass(frozen=True)
class DemoConfig:
    steps: int = 600
    batch_size: int = 8
    image_size: int = 128
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    head_lr_mult: float = 1.0  # the head starts from scratch like the rest
    num_val: int = 64
    seed: int = 0
    model: str = "drnseg_d_tiny"
    erf_samples: int = 8


@dataclass
class DemoResult:
    name: str
    output_stride: int
    receptive_field: int
    miou: float
    pixel_acc: float
    seconds: float
    predictions: np.ndarray = field(repr=False)  # (K, H, W) labels of the shown samples
    field: PixelField | None = field(default=None, repr=False)  # what the marked pixel reads


@dataclass
class Shown:
    """The validation samples the figure shows, and the far-from-its-tag pixel it marks."""

    images: torch.Tensor  # (K, 3, H, W) normalised
    masks: np.ndarray  # (K, H, W)
    tag_distance: np.ndarray  # (K, H, W), -1 off bands
    sample: int  # which shown sample holds the marked pixel
    pixel: tuple[int, int]  # (row, col)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str]
    palette: list[tuple[int, int, int]]


def run_demo(config: DemoConfig, on_step: Callable[[str, int], None] | None = None,
             samples: int = 3) -> tuple[list[DemoResult], Shown]:
    """Train and evaluate every variant; returns the results and the shown samples."""
    data = SyntheticContextDataModule(num_train=config.steps * config.batch_size,
                                      num_val=config.num_val, image_size=config.image_size,
                                      batch_size=config.batch_size, seed=config.seed)
    data.setup("fit")
    shown = _shown(data, samples)
    results = []
    for name, overrides in VARIANTS.items():
        L.seed_everything(config.seed, verbose=False)
        task = SegmentationTask(
            model=config.model, num_classes=data.num_classes, model_kwargs=overrides,
            class_weights=list(data.class_weights), class_names=list(data.class_names),
            optimizer=config.optimizer, schedule=config.schedule, lr=config.lr,
            weight_decay=config.weight_decay, head_lr_mult=config.head_lr_mult,
            print_class_table=False)
        trainer = L.Trainer(
            max_steps=config.steps, accelerator="cpu", logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
            callbacks=[_StepHook(name, on_step)] if on_step else [])
        start = time.perf_counter()
        trainer.fit(task, datamodule=data)
        seconds = time.perf_counter() - start
        evaluator = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                              enable_model_summary=False, enable_checkpointing=False)
        scores = evaluator.validate(task, datamodule=data, verbose=False)[0]
        task.eval()
        with torch.inference_mode():
            predictions = task(shown.images).argmax(1).numpy()
        where = pixel_field(name, task.model.backbone, shown.tag_distance[shown.sample],
                            shown.pixel, samples=config.erf_samples, seed=config.seed)
        results.append(DemoResult(name, task.model.output_stride, where.size,
                                  100 * scores["val/mIoU"], 100 * scores["val/pixel_acc"],
                                  seconds, predictions, where))
    return results, shown


def _shown(data: SyntheticContextDataModule, samples: int) -> Shown:
    dataset = data.datasets["val"]
    count = min(samples, len(dataset))
    generated = [dataset.generate(i) for i in range(count)]
    batch = data.collate_fn([dataset[i] for i in range(count)])
    tag_distance = np.stack([g.tag_distance for g in generated])
    sample, pixel = far_pixel(tag_distance)
    return Shown(batch["image"], batch["mask"].numpy(), tag_distance, sample, pixel,
                 tuple(data.mean), tuple(data.std), list(data.class_names), list(data.palette))


class _StepHook(L.Callback):
    def __init__(self, name: str, on_step: Callable[[str, int], None]) -> None:
        self.name, self.on_step = name, on_step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.on_step(self.name, trainer.global_step)
