"""The tasks' steps: a skipped batch (``None``) is passed over by every step, and what a
training step logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from drnet.tasks import ClassificationTask, DetectionTask, SegmentationTask
from drnet.tasks.base import TaskBase

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

TASKS: dict[str, Callable[[], TaskBase]] = {
    "segmentation": lambda: SegmentationTask(model="drnseg_d_tiny", num_classes=3),
    "classification": lambda: ClassificationTask(model="drn_d_tiny", num_classes=3),
    # Its data never gives None today (no skipping); the guard is there should it ever.
    "detection": lambda: DetectionTask("fasterrcnn_drn_d_tiny", num_classes=4, min_size=48,
                                       max_size=48),
}


def _record_logs(task: TaskBase) -> dict[str, float]:
    """Replace ``task.log`` (``log_dict`` goes through it) by a recorder of name -> value."""
    logged: dict[str, float] = {}

    def log(name: str, value: Any, **kwargs: Any) -> None:
        logged[name] = float(value)

    task.log = log  # type: ignore[method-assign]
    return logged


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_every_step_passes_over_a_batch_whose_samples_were_all_skipped(kind: str) -> None:
    # The collate functions give None when every sample of a batch was bad and skipped
    # (drnet.data.bad_samples): no loss, no metric update, no prediction, nothing logged.
    task = TASKS[kind]()
    logged = _record_logs(task)
    assert task.training_step(None, 0) is None
    assert task.validation_step(None, 0) is None
    assert task.test_step(None, 0) is None
    assert task.predict_step(None, 0) is None
    assert logged == {}


def test_the_auxiliary_loss_is_logged_and_weighted_into_the_loss() -> None:
    torch.manual_seed(0)
    task = SegmentationTask(model="drnseg_d_tiny", num_classes=3, aux_weight=0.4).eval()
    logged = _record_logs(task)
    batch = {"image": torch.randn(2, 3, 32, 32), "mask": torch.randint(0, 3, (2, 32, 32))}
    loss = task.training_step(batch, 0)  # in eval mode: the same forward twice (BN, dropout)
    logits, aux = task.model.forward_with_aux(batch["image"])
    main, aux_loss = (F.cross_entropy(x, batch["mask"], ignore_index=255) for x in (logits, aux))
    assert set(logged) == {"train/loss", "train/aux_loss"}
    assert logged["train/aux_loss"] == pytest.approx(float(aux_loss), rel=1e-5)
    assert float(loss) == pytest.approx(float(main + 0.4 * aux_loss), rel=1e-5)
    assert logged["train/loss"] == pytest.approx(float(loss))


def test_a_non_finite_loss_names_the_epoch_the_batch_and_the_terms() -> None:
    task = TASKS["classification"]()
    _record_logs(task)
    nan, inf = torch.tensor(float("nan")), torch.tensor(float("inf"))
    task.training_loss = lambda batch: (nan, {"loss_box": inf})  # type: ignore[method-assign]
    with pytest.raises(FloatingPointError, match=(
            r"training loss is nan at global step 0 \(epoch 0, batch 7; \{'loss_box': inf\}\)")):
        task.training_step({"image": torch.zeros(1, 3, 8, 8)}, 7)
