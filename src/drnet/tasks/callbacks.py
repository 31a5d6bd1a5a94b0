"""Callbacks: plain progress lines for logs, and best/last checkpoints chosen by the task."""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from drnet.data.bad_samples import TooManyBadSamplesError
from drnet.errors import DrnetValueError


class PlainProgress(Callback):
    """Periodic one-line progress for logs and CI (a progress bar needs a terminal): every
    ``every`` steps and at each epoch's end, with loss, learning rate, speed and ETA; in
    ``validate``, ``test`` and ``predict``, every ``every`` batches and at the last."""

    def __init__(self, every: int = 50) -> None:
        self.every = every
        self._start = 0.0
        self._eval_start = 0.0

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
        # While fitting, one line per validation (validate/test: EvaluationResults' line).
        if (trainer.sanity_checking or not trainer.is_global_zero
                or trainer.state.fn != TrainerFn.FITTING or prints_own_results(pl_module)):
            return
        text = metrics_line(trainer, "val")
        if text:
            print(f"epoch {trainer.current_epoch} validation: {text}", flush=True)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule
                                  ) -> None:
        self._eval_start = time.monotonic()

    on_test_epoch_start = on_predict_epoch_start = on_validation_epoch_start

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        if trainer.state.fn != TrainerFn.FITTING:  # fit has its own lines
            self._eval_line(trainer, "validate", trainer.num_val_batches, batch_idx,
                            dataloader_idx)

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                          batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_line(trainer, "test", trainer.num_test_batches, batch_idx, dataloader_idx)

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self._eval_line(trainer, "predict", trainer.num_predict_batches, batch_idx,
                        dataloader_idx)

    def _eval_line(self, trainer: L.Trainer, stage: str, totals: list[int | float],
                   batch_idx: int, dataloader_idx: int) -> None:
        done, total = batch_idx + 1, totals[dataloader_idx] if totals else float("inf")
        if not trainer.is_global_zero or (done % self.every and done != total):
            return
        elapsed = time.monotonic() - self._eval_start
        rate = done / max(elapsed, 1e-9)
        of = f"/{total}" if total != float("inf") else ""
        eta = f"  eta {(total - done) / rate:.0f}s" if of else ""
        print(f"{stage}: batch {done}{of}  {rate:.2f} batches/s{eta}", flush=True)


class EvaluationResults(Callback):
    """The metrics of ``validate`` and ``test`` printed once, in one line, unless the task
    prints them itself (the segmentation task's per-class table); Lightning's own results
    table is turned off (``verbose=False``) so that they are not printed twice."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING:
            self._print(trainer, pl_module, "val", "validation")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print(trainer, pl_module, "test", "test")

    def _print(self, trainer: L.Trainer, pl_module: L.LightningModule, prefix: str,
               stage: str) -> None:
        text = metrics_line(trainer, prefix)
        if trainer.is_global_zero and text and not prints_own_results(pl_module):
            print(f"{stage}: {text}", flush=True)


def metrics_line(trainer: L.Trainer, prefix: str) -> str:
    """``prefix/...`` metrics logged so far, as ``name value`` pairs in name order."""
    shown = {k: float(v) for k, v in trainer.callback_metrics.items()
             if k.startswith(f"{prefix}/")}
    return "  ".join(f"{k} {v:.4f}" for k, v in sorted(shown.items()))


def prints_own_results(pl_module: L.LightningModule) -> bool:
    """Whether the task prints its results itself (``print_class_table`` of the segmentation
    task: a table whose last line holds every metric it logs)."""
    return bool(getattr(pl_module, "hparams", {}).get("print_class_table", False))


class BadSampleReport(Callback):
    """Bad samples (``skip_bad_samples=True``) seen from the loops: an epoch of a split whose
    batches all held only bad samples stops the run with an error naming the data set (it
    would otherwise train on nothing, epoch after epoch), and when a run ends the number of
    distinct bad files is reported per split (summed over DDP processes)."""

    def __init__(self) -> None:
        self._batches: dict[str, list[int]] = {}  # role -> [batches seen, usable] this epoch
        self._counts: dict[str, int] | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches["train"] = [0, 0]

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule
                                  ) -> None:
        self._batches["val"] = [0, 0]

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches["test"] = [0, 0]

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches["predict"] = [0, 0]

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._count("train", batch)

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        self._count("val", batch)

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                          batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._count("test", batch)

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self._count("predict", batch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer, "train")

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:  # a few batches, not the epoch
            self._check(trainer, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer, "test")

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer, "predict")

    def _count(self, role: str, batch: Any) -> None:
        counts = self._batches.setdefault(role, [0, 0])
        counts[0] += 1
        counts[1] += batch is not None  # the collate functions give None for all-bad batches

    def _check(self, trainer: L.Trainer, role: str) -> None:
        seen, usable = self._batches.get(role, [0, 0])
        if seen and not usable:
            data = trainer.datamodule
            dataset = getattr(data, "datasets", {}).get(role)
            name = getattr(dataset, "name", None) or type(data).__name__
            bad = getattr(dataset, "bad_samples", "all its")
            raise TooManyBadSamplesError(
                f"{name}: no usable sample in epoch {trainer.current_epoch} of the {role} data: "
                f"its {seen} batches held only bad files ({bad} skipped, each named in a "
                "warning above)")

    # The distinct bad files over every process, once each loop is done (collectives are not
    # allowed in teardown, after the processes have left the process group).
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._collect(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING:
            self._collect(trainer, pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._collect(trainer, pl_module)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._collect(trainer, pl_module)

    def _collect(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        flags = getattr(trainer.datamodule, "bad_sample_flags", None)
        if flags is None:
            return
        counts = {}
        for role, marked in flags().items():
            if trainer.world_size > 1:
                marked = trainer.strategy.reduce(marked.to(pl_module.device, torch.int32),
                                                 reduce_op="sum")
            counts[role] = int((marked > 0).sum())
        self._counts = counts

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        counts = self._counts
        if counts is None:  # stopped before a loop ended: this process's count
            flags = getattr(trainer.datamodule, "bad_sample_flags", dict)()
            counts = {role: int(marked.sum()) for role, marked in flags.items()}
        self._counts = None
        total = sum(counts.values())
        if total and trainer.is_global_zero:
            parts = ", ".join(f"{role} {n}" for role, n in counts.items() if n)
            stage = getattr(stage, "value", stage)  # Lightning passes a TrainerFn here
            print(f"{stage}: skipped {total} bad file{'s' if total > 1 else ''} ({parts}; "
                  "each is named in a warning above)", flush=True)


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
            raise DrnetValueError(f"every_n_train_steps must be >= 1, got {every_n_train_steps}")
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
