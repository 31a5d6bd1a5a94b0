"""What the three tasks share: the Lightning skeleton (steps that pass over skipped batches,
the inference runners started and stopped around evaluation and prediction, logging of the
training loss), building the network from the task's arguments (``model_args``, also what
``drnet export`` rebuilds a checkpoint's network with) and the optimiser (SGD or AdamW, head
learning-rate multiplier, schedule per iteration)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import lightning as L
from torch import Tensor, nn

from drnet.inference.predictor import Evaluator, Predictor
from drnet.models import create_model, get_entry
from drnet.tasks.optim import check_finite, optimizer_with_schedule, param_groups

Batch = dict[str, Any]
Stage = Literal["val", "test"]


class TaskBase(L.LightningModule):
    """Base of the drnet tasks: a subclass builds ``self.model`` from :meth:`model_args` and
    says which parameters are the backbone's (:meth:`backbone_parameters`, the rest learn at
    ``head_lr_mult`` times ``lr``); its hyperparameters hold the optimiser's arguments.

    Lightning's steps and stage hooks live here; a subclass writes what is its own:
    :meth:`training_loss`, :meth:`evaluate_batch`, :meth:`report_epoch` (where its metrics are
    computed once an epoch) and :meth:`predict_batch`. A batch is ``None`` when every sample of
    it was bad and skipped (:mod:`drnet.data.bad_samples`): each step passes over it. A task
    that evaluates or predicts through :mod:`drnet.inference.predictor` sets ``evaluator``
    (the network at another output stride), ``eval_engine`` (validation and test) and
    ``predictor`` (predict); they are started at the beginning of their stage and stopped at
    its end.

    The optimiser arguments every task takes (jsonargparse shows these descriptions in each
    task's ``--model.help``):

    Args:
        optimizer: sgd (momentum, the reference recipes) or adamw (decoupled weight decay;
            short runs from scratch, as drnet demo).
        lr: Base learning rate of the backbone.
        momentum: SGD momentum (sgd only; adamw refuses another value).
        weight_decay: Weight decay (L2 for sgd, decoupled for adamw).
        nesterov: Use Nesterov momentum (sgd only).
    """

    model: nn.Module
    evaluator: Evaluator | None = None
    eval_engine: Predictor | None = None
    predictor: Predictor | None = None

    # ------------------------------------------------------------ what a subclass writes

    def training_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss to minimise on ``batch``, and the terms of it logged as ``train/<name>``."""
        raise NotImplementedError

    def evaluate_batch(self, batch: Batch, stage: Stage) -> None:
        """Update (or log) ``stage``'s metrics with ``batch``."""
        raise NotImplementedError

    def report_epoch(self, stage: Stage) -> None:
        """Log what ``stage``'s epoch measured; nothing here (metrics logged per step are
        reduced by Lightning)."""

    def predict_batch(self, batch: Batch) -> dict[str, Any]:
        """``batch``'s predictions, as the prediction writers read them."""
        raise NotImplementedError

    # ------------------------------------------------------------ Lightning's steps and hooks

    def training_step(self, batch: Batch | None, batch_idx: int) -> Tensor | None:
        if batch is None:  # Lightning skips the optimiser step for a None loss
            return None
        loss, terms = self.training_loss(batch)
        size = len(batch["image"])
        if terms:
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=size)
        check_finite(loss, self.global_step, lambda: _where(self.current_epoch, batch_idx, terms))
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        return loss

    def validation_step(self, batch: Batch | None, batch_idx: int) -> None:
        if batch is not None:
            self.evaluate_batch(batch, "val")

    def test_step(self, batch: Batch | None, batch_idx: int) -> None:
        if batch is not None:
            self.evaluate_batch(batch, "test")

    def predict_step(self, batch: Batch | None, batch_idx: int) -> dict[str, Any] | None:
        return None if batch is None else self.predict_batch(batch)

    def on_validation_start(self) -> None:
        self._start_inference(self.eval_engine)

    def on_validation_end(self) -> None:
        self._stop_inference(self.eval_engine)

    def on_test_start(self) -> None:
        self._start_inference(self.eval_engine)

    def on_test_end(self) -> None:
        self._stop_inference(self.eval_engine)

    def on_predict_start(self) -> None:
        self._start_inference(self.predictor)

    def on_predict_end(self) -> None:
        self._stop_inference(self.predictor)

    def on_validation_epoch_end(self) -> None:
        self.report_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.report_epoch("test")

    def _start_inference(self, runner: Predictor | None) -> None:
        """The evaluator first (it rebuilds the network with the current weights), then the
        runner of the stage on the network it gives."""
        if self.evaluator is not None:
            self.evaluator.start(self.model)
        if runner is not None:
            runner.start(self.model if self.evaluator is None else self.evaluator.model)

    def _stop_inference(self, runner: Predictor | None) -> None:
        if runner is not None:
            runner.stop()
        if self.evaluator is not None:
            self.evaluator.stop()

    def _log_scores(self, stage: Stage, scores: Mapping[str, Tensor], logged: Iterable[str]
                    ) -> None:
        """Log the ``logged`` ones of an epoch's ``scores`` (computed from metrics summed or
        gathered over processes) as ``<stage>/<name>``."""
        self.log_dict({f"{stage}/{k}": scores[k].float() for k in logged},
                      sync_dist=True)  # identical on every process: the mean is a no-op

    # ------------------------------------------------------------ model and optimiser

    @staticmethod
    def model_args(hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``create_model``'s arguments (weights aside) for these hyperparameters."""
        raise NotImplementedError

    def backbone_parameters(self) -> Iterable[nn.Parameter]:
        """The parameters that learn at the base learning rate."""
        raise NotImplementedError

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        return optimizer_with_schedule(
            param_groups(self.model, self.backbone_parameters(), hp.lr, hp.head_lr_mult),
            optimizer=hp.get("optimizer", "sgd"),  # checkpoints from before the option: SGD
            momentum=hp.momentum, weight_decay=hp.weight_decay, nesterov=hp.nesterov,
            schedule=hp.schedule, total_steps=self.trainer.estimated_stepping_batches,
            warmup_iters=hp.warmup_iters, power=hp.poly_power)


def _where(epoch: int, batch_idx: int, terms: Mapping[str, Tensor]) -> str:
    """Where a non-finite loss arose, with the values of its terms (detection's loss dict)."""
    values = f"; { {k: float(v) for k, v in terms.items()} }" if terms else ""
    return f" (epoch {epoch}, batch {batch_idx}{values})"


def task_for(hparams: Mapping[str, Any]) -> type[TaskBase]:
    """The task class that trains ``hparams["model"]``, by the model's family."""
    from drnet.tasks import ClassificationTask, DetectionTask, SegmentationTask

    family = get_entry(hparams["model"]).family
    return {"segmentation": SegmentationTask, "detection": DetectionTask}.get(
        family, ClassificationTask)


def model_from_hparams(hparams: Mapping[str, Any], *, pretrained: str | None = None,
                       **overrides: Any) -> nn.Module:
    """The network a task with ``hparams`` (a ``drnet fit`` checkpoint's ``hyper_parameters``)
    builds, with ``pretrained`` weights (e.g. the checkpoint itself); ``overrides`` (``None``
    values ignored) replace the task's arguments."""
    kwargs = {**task_for(hparams).model_args(hparams), **overrides}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return create_model(hparams["model"], pretrained=pretrained, **kwargs)
