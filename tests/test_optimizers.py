"""``optimizer="adamw"`` and ``schedule="onecycle"``: the demo's recipe, open to every task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from drnet.cli import main
from drnet.tasks.optim import optimizer_with_schedule

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _groups() -> list[dict]:
    return [{"params": [torch.nn.Parameter(torch.ones(2))], "lr": 1e-3},
            {"params": [torch.nn.Parameter(torch.ones(2))], "lr": 1e-2}]


def _make(**overrides: object) -> dict:
    kwargs = {"optimizer": "adamw", "momentum": 0.9, "weight_decay": 1e-4, "nesterov": False,
              "schedule": "onecycle", "total_steps": 100, "warmup_iters": 0, "power": 0.9}
    kwargs.update(overrides)
    return optimizer_with_schedule(_groups(), **kwargs)  # type: ignore[arg-type]


def test_adamw_onecycle_follows_each_groups_lr_by_hand() -> None:
    answer = _make()
    optimizer, scheduler = answer["optimizer"], answer["lr_scheduler"]["scheduler"]
    assert type(optimizer) is torch.optim.AdamW
    assert [g["weight_decay"] for g in optimizer.param_groups] == [1e-4, 1e-4]
    assert answer["lr_scheduler"]["interval"] == "step"
    # One cycle: starts at max/25, peaks at max after 30 % of the steps, ends at max/25/1e4.
    starts = [g["lr"] for g in optimizer.param_groups]
    assert starts == pytest.approx([1e-3 / 25, 1e-2 / 25])
    lrs = []
    for _ in range(99):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    peak = max(range(len(lrs)), key=lambda i: lrs[i][0]) + 1
    assert peak == 29  # step 0-based 29 of 100 = 30 % through (pct_start 0.3)
    assert lrs[peak - 1] == pytest.approx([1e-3, 1e-2])
    assert lrs[-1] == pytest.approx([1e-3 / 25 / 1e4, 1e-2 / 25 / 1e4])


def test_warmup_iters_sets_the_one_cycle_peak() -> None:
    answer = _make(warmup_iters=10)
    optimizer, scheduler = answer["optimizer"], answer["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(20):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert max(range(20), key=lrs.__getitem__) + 1 == 9  # step 9 (0-based): 10 % of 100


def test_sgd_keeps_momentum_and_adamw_refuses_sgds_options() -> None:
    sgd = _make(optimizer="sgd", schedule="poly", momentum=0.8, nesterov=True)["optimizer"]
    assert type(sgd) is torch.optim.SGD
    assert sgd.param_groups[0]["momentum"] == 0.8
    assert sgd.param_groups[0]["nesterov"]
    with pytest.raises(ValueError, match="SGD's options"):
        _make(momentum=0.5)
    with pytest.raises(ValueError, match="SGD's options"):
        _make(nesterov=True)
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adamw'"):
        _make(optimizer="adam")


def test_fit_with_adamw_and_onecycle_through_the_cli(tmp_path: Path) -> None:
    assert main(["fit", "--data.num_train", "8", "--data.num_val", "2", "--data.image_size",
                 "48", "--data.batch_size", "4", "--trainer.val_check_interval", "null",
                 "--trainer.max_steps", "4", "--trainer.default_root_dir", str(tmp_path),
                 "--model.optimizer", "adamw", "--model.schedule", "onecycle",
                 "--model.lr", "0.002"]) == 0
    state = torch.load(next(tmp_path.rglob("last.ckpt")), weights_only=True)
    assert state["hyper_parameters"]["optimizer"] == "adamw"
    moments = next(iter(state["optimizer_states"][0]["state"].values()))
    assert "exp_avg" in moments  # AdamW's state, not SGD's momentum_buffer
    schedule = state["lr_schedulers"][0]
    assert schedule["total_steps"] == 4
    # One cycle from max/25 for the backbone (lr) and the head (10x lr, the task's default).
    assert schedule["base_lrs"] == pytest.approx([0.002 / 25, 0.02 / 25])
