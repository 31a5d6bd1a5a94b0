"""What the three tasks share: building the network from the task's arguments (``model_args``,
also what ``drnet export`` rebuilds a checkpoint's network with) and the optimiser (SGD or AdamW,
head learning-rate multiplier, schedule per iteration)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import lightning as L
from torch import nn

from drnet.models import create_model, get_entry
from drnet.tasks.optim import optimizer_with_schedule, param_groups


class TaskBase(L.LightningModule):
    """Base of the drnet tasks: a subclass builds ``self.model`` from :meth:`model_args` and
    says which parameters are the backbone's (:meth:`backbone_parameters`, the rest learn at
    ``head_lr_mult`` times ``lr``); its hyperparameters hold the optimiser's arguments.

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
