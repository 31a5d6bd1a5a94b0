"""SGD with a per-iteration poly or cosine schedule and linear warm-up, as the DRN/DeepLab
recipes: ``lr = base * (1 - t / T) ** power`` after ``warmup_iters`` linear steps; the
backbone/head parameter split and the finite-loss guard every task shares."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal

import torch
from torch import Tensor, nn

Schedule = Literal["poly", "cosine", "constant"]


def lr_factor(schedule: Schedule, total_steps: int, warmup_iters: int = 0,
              warmup_ratio: float = 0.1, power: float = 0.9) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimiser step ``t`` (0-based)."""
    if schedule not in ("poly", "cosine", "constant"):
        raise ValueError(f"schedule must be 'poly', 'cosine' or 'constant', got {schedule!r}")
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


def check_finite(loss: Tensor, step: int, detail: str = "") -> None:
    """Stop the run on a NaN/inf loss, naming the step (the last good checkpoint is kept)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training loss is {loss.item()} at global step {step}{detail}; lower the learning "
            f"rate, raise warmup_iters or check the data; the last good checkpoint is kept")


def sgd_with_schedule(groups: list[dict], *, momentum: float, weight_decay: float,
                      nesterov: bool, schedule: Schedule, total_steps: int, warmup_iters: int,
                      power: float) -> dict:
    """Lightning's ``configure_optimizers`` answer: SGD stepped per iteration."""
    optimizer = torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=momentum,
                                weight_decay=weight_decay, nesterov=nesterov)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_factor(schedule, total_steps, warmup_iters, power=power))
    return {"optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}
