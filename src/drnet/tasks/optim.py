"""SGD with a per-iteration poly or cosine schedule and linear warm-up, as the DRN/DeepLab
recipes: ``lr = base * (1 - t / T) ** power`` after ``warmup_iters`` linear steps, or AdamW and
a one-cycle schedule (short runs from scratch, as ``drnet demo``); the backbone/head parameter
split and the finite-loss guard every task shares."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal

import torch
from torch import Tensor, nn

from drnet.errors import DrnetValueError, NonFiniteLossError

Schedule = Literal["poly", "cosine", "constant", "onecycle"]
OptimizerName = Literal["sgd", "adamw"]
SGD_MOMENTUM = 0.9  # the tasks' default; AdamW refuses another value (it has no such option)


def lr_factor(schedule: Schedule, total_steps: int, warmup_iters: int = 0,
              warmup_ratio: float = 0.1, power: float = 0.9) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimiser step ``t`` (0-based)."""
    if schedule not in ("poly", "cosine", "constant"):
        raise DrnetValueError("schedule must be 'poly', 'cosine', 'constant' or 'onecycle', got "
                              f"{schedule!r}")
    total = max(int(total_steps), 1)

    def factor(step: int) -> float:
        if step < warmup_iters:
            return warmup_ratio + (1 - warmup_ratio) * step / warmup_iters
        progress = min(step / total, 1.0)
        if schedule == "poly":
            return (1 - progress) ** power
        if schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    return factor


def param_groups(model: nn.Module, backbone: Iterable[nn.Parameter], lr: float,
                 head_lr_mult: float) -> list[dict]:
    """``model``'s trainable parameters: those in ``backbone`` at ``lr``, the rest (freshly
    initialised heads) at ``lr * head_lr_mult`` (the 10x head learning rate of DeepLab/PSPNet
    recipes), in the model's own order; an empty group is left out."""
    in_backbone = {id(p) for p in backbone}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if id(p) in in_backbone], "lr": lr},
              {"params": [p for p in params if id(p) not in in_backbone],
               "lr": lr * head_lr_mult}]
    return [g for g in groups if g["params"]]


def check_finite(loss: Tensor, step: int, detail: str | Callable[[], str] = "") -> None:
    """Stop the run on a NaN/inf loss, naming the step (the last good checkpoint is kept).
    ``detail`` (appended) may be a function, called only then: reading tensors' values waits
    for the device."""
    if not torch.isfinite(loss):
        detail = detail() if callable(detail) else detail
        raise NonFiniteLossError(f"training loss is {loss.item()} at global step {step}{detail}; "
                                 "lower the learning rate, raise warmup_iters or check the data; "
                                 "the last good checkpoint is kept")


def optimizer_with_schedule(groups: list[dict], *, optimizer: OptimizerName = "sgd",
                            momentum: float, weight_decay: float, nesterov: bool,
                            schedule: Schedule, total_steps: int, warmup_iters: int,
                            power: float) -> dict:
    """Lightning's ``configure_optimizers`` answer, stepped per iteration.

    ``optimizer`` is ``"sgd"`` (momentum, optionally Nesterov) or ``"adamw"`` (decoupled weight
    decay; ``momentum``/``nesterov`` are SGD's and another value than the default is an error,
    not silently ignored). ``schedule="onecycle"`` is torch's ``OneCycleLR`` up to each group's
    lr, warming up over ``warmup_iters`` steps (default 30 % of the run).
    """
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            groups, lr=groups[0]["lr"], momentum=momentum, weight_decay=weight_decay,
            nesterov=nesterov)
    elif optimizer == "adamw":
        if nesterov or momentum != SGD_MOMENTUM:
            raise DrnetValueError(f"momentum={momentum}/nesterov={nesterov} are SGD's options; "
                                  "optimizer='adamw' has none (leave them at their defaults)")
        opt = torch.optim.AdamW(groups, lr=groups[0]["lr"], weight_decay=weight_decay)
    else:
        raise DrnetValueError(f"optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
    total = max(int(total_steps), 1)
    if schedule == "onecycle":
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in groups], total_steps=total,
            pct_start=min(warmup_iters / total, 0.9) if warmup_iters else 0.3)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            opt, lr_factor(schedule, total_steps, warmup_iters, power=power))
    return {"optimizer": opt,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}
