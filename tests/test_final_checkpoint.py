"""``drnet fit`` keeps the end of a run in ``last.ckpt`` when the last step falls between two
periodic saves (``--checkpoint_every_n_steps``), whether ``max_steps`` stops it mid-epoch or
``max_epochs`` at an epoch end. (Two processes: tests/test_ddp_resume.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from drnet.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _last_checkpoint(root: Path) -> Path:
    """Where ``drnet fit`` writes ``last.ckpt`` for ``--trainer.default_root_dir root``."""
    return root / "version_0" / "checkpoints" / "last.ckpt"  # the only fit run under root


@pytest.mark.parametrize(("stop", "steps_per_epoch", "steps", "epochs"), [
    (["--trainer.max_steps", "14", "--trainer.max_epochs", "-1"], 10, 14, 2),  # mid-epoch 1
    (["--trainer.max_steps", "-1", "--trainer.max_epochs", "2"], 5, 10, 2),  # an epoch end
])
def test_last_checkpoint_holds_the_final_step(tmp_path: Path, stop: list[str],
                                              steps_per_epoch: int, steps: int,
                                              epochs: int) -> None:
    assert main(["fit", "--data.num_train", str(4 * steps_per_epoch), "--data.num_val", "2",
                 "--data.image_size", "48", "--data.batch_size", "4",
                 "--data.val_batch_size", "2", "--trainer.val_check_interval", "null",
                 "--checkpoint_every_n_steps", "3", "--trainer.default_root_dir", str(tmp_path),
                 *stop]) == 0
    state = torch.load(_last_checkpoint(tmp_path), weights_only=True)
    assert state["global_step"] == steps  # not 12 or 9, the last multiple of 3
    # saved when training ended: the loops count the last epoch as complete (Lightning counts
    # an epoch cut by max_steps as done) and the data resumes at the next one's start
    progress = state["loops"]["fit_loop"]["epoch_progress"]["current"]
    assert progress["completed"] == progress["processed"] == epochs
    assert state["SyntheticContextDataModule"] == {"epoch": epochs, "consumed": 0,
                                                   "world_size": 1, "batch_size": 4}
