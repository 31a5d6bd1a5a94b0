"""Callbacks: plain progress lines for logs, and best/last checkpoints chosen by the task."""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn


class PlainProgress(Callback):
    """Periodic one-line progress for logs and CI (a progress bar needs a terminal): every
    ``every`` steps and at each epoch's end, with loss, learning rate, speed and ETA."""

    def __init__(self, every: int = 50) -> None:
        self.every = every
        self._start = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.monotonic()
        if trainer.is_global_zero:
            print(f"training: {trainer.estimated_stepping_batches} steps", flush=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        total = trainer.estimated_stepping_batches
        if not trainer.is_global_zero or (step % self.every and step != total):
            return
        elapsed = time.monotonic() - self._start
        eta = elapsed / max(step, 1) * (total - step)
        loss = trainer.callback_metrics.get("train/loss")
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        loss_text = f"{float(loss):.4f}" if loss is not None else "-"
        print(f"step {step}/{total}  epoch {trainer.current_epoch}  loss {loss_text}  "
              f"lr {lr:.2e}  {step / max(elapsed, 1e-9):.2f} it/s  eta {eta:.0f}s", flush=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        shown = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if shown:
            text = "  ".join(f"{k} {v:.4f}" for k, v in sorted(shown.items()))
            print(f"epoch {trainer.current_epoch} validation: {text}", flush=True)


class BadSampleReport(Callback):
    """Says, when a run ends, how many bad samples were skipped (``skip_bad_samples=True``)."""

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        count = getattr(trainer.datamodule, "bad_samples", 0)
        if count and trainer.is_global_zero:
            print(f"{stage}: skipped {count} bad samples (each is named in a warning above)",
                  flush=True)


class BestCheckpoint(ModelCheckpoint):
    """``best.ckpt``: the best model by the task's own metric (``task.monitor``, e.g. val/mIoU),
    chosen at each validation."""

    def __init__(self, dirpath: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("filename", "best")
        kwargs.setdefault("mode", "max")
        kwargs.setdefault("auto_insert_metric_name", False)
        super().__init__(dirpath=dirpath, save_top_k=1, save_last=False, **kwargs)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.monitor is None:
            self.monitor = getattr(pl_module, "monitor", None)
        super().setup(trainer, pl_module, stage)


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every ``every_n_train_steps`` optimiser steps, at every epoch end and when
    training ends, so a killed run resumes (``--ckpt_path last``) from at most that many steps
    back and a finished one keeps its final state. ModelCheckpoint alone saves ``last`` at an
    epoch end only when that step was a multiple of the interval, and at the end only when it
    never saved: a run stopping at a step between two saves (``max_steps``, a time limit, a
    requested stop) lost its end."""

    def __init__(self, dirpath: str | None = None, every_n_train_steps: int = 100) -> None:
        if every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps must be >= 1, got {every_n_train_steps}")
        super().__init__(dirpath=dirpath, save_top_k=0, save_last=True,
                         every_n_train_steps=every_n_train_steps, save_on_train_epoch_end=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_last(trainer)  # the loops' counters now say the run is complete

    def _save_last(self, trainer: L.Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def interactive() -> bool:
    """Whether stdout is a terminal (a live progress bar is readable there)."""
    return sys.stdout.isatty()
