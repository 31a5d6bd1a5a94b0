"""``drnet demo``: why dilation helps, measured on the built-in synthetic context set.

Three networks with identical weights at initialisation, data stream, steps and recipe:
(a) ``drn_d_tiny`` as published for DRNs (output stride 8, dilations 2-4-2-1), (b) the same
network with every dilation set to 1, (c) the same network striding instead of dilating
(output stride 32). The set's classes need both context (a band's class is written only in a
tag up to 120 px away) and resolution (1-2 px lines), so only (a) can get both right.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from drnet.data import SyntheticContextDataModule
from drnet.tasks.segmentation import SegmentationTask

VARIANTS: dict[str, dict[str, Any]] = {
    "dilated (DRN)": {},
    "no dilation": {"dilations": (1,) * 8},
    "output stride 32": {"output_stride": 32},
}


@dataclass(frozen=True)
class DemoConfig:
    steps: int = 200
    batch_size: int = 16
    image_size: int = 128
    lr: float = 0.05
    head_lr_mult: float = 1.0  # 10x (the segmentation default) is unstable in 200 steps
    num_val: int = 64
    seed: int = 0
    model: str = "drnseg_d_tiny"


@dataclass
class DemoResult:
    name: str
    output_stride: int
    receptive_field: int
    miou: float
    pixel_acc: float
    seconds: float
    predictions: np.ndarray = field(repr=False)  # (K, H, W) labels of the first samples


def run_demo(config: DemoConfig, on_step: Callable[[str, int], None] | None = None,
             samples: int = 4) -> tuple[list[DemoResult], dict[str, Any]]:
    """Train and evaluate every variant; returns the results and the shown samples."""
    data = SyntheticContextDataModule(num_train=config.steps * config.batch_size,
                                      num_val=config.num_val, image_size=config.image_size,
                                      batch_size=config.batch_size, seed=config.seed)
    data.setup("fit")
    shown = next(iter(torch.utils.data.DataLoader(data.datasets["val"], batch_size=samples,
                                                  collate_fn=data.collate_fn)))
    results = []
    for name, overrides in VARIANTS.items():
        L.seed_everything(config.seed, verbose=False)
        task = SegmentationTask(
            model=config.model, num_classes=data.num_classes, model_kwargs=overrides,
            class_weights=list(data.class_weights), class_names=list(data.class_names),
            lr=config.lr, head_lr_mult=config.head_lr_mult,
            warmup_iters=min(50, config.steps // 10), print_class_table=False)
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
            predictions = task(shown["image"]).argmax(1).numpy()
        results.append(DemoResult(name, task.model.output_stride, receptive_field(task.model),
                                  100 * scores["val/mIoU"], 100 * scores["val/pixel_acc"],
                                  seconds, predictions))
    return results, {"images": shown["image"], "masks": shown["mask"].numpy(), "data": data}


class _StepHook(L.Callback):
    def __init__(self, name: str, on_step: Callable[[str, int], None]) -> None:
        self.name, self.on_step = name, on_step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.on_step(self.name, trainer.global_step)


def receptive_field(model: torch.nn.Module) -> int:
    """Theoretical receptive field (px) of the network's last feature map."""
    from drnet.analysis import receptive_field as analyse

    return analyse(model.backbone, (64, 64)).last_spatial_stage.rows.size


def save_grid(path: Path, results: list[DemoResult], shown: dict[str, Any]) -> Path:
    """Inputs, ground truth and every variant's prediction, one sample per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = shown["data"]
    mean = torch.tensor(data.mean).view(3, 1, 1)
    std = torch.tensor(data.std).view(3, 1, 1)
    palette = np.asarray(data.palette, dtype=np.uint8)
    columns = ["input", "ground truth", *(f"{r.name}\nmIoU {r.miou:.1f}" for r in results)]
    rows = len(shown["masks"])
    fig, axes = plt.subplots(rows, len(columns), figsize=(2.2 * len(columns), 2.2 * rows),
                             squeeze=False)
    for i in range(rows):
        image = (shown["images"][i] * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
        mask = shown["masks"][i]
        panels = [image, palette[np.where(mask == 255, 0, mask)],
                  *(palette[r.predictions[i]] for r in results)]
        for j, panel in enumerate(panels):
            axes[i, j].imshow(panel, interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(columns[j], fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
