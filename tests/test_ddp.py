"""Two-process CPU DDP (gloo) run of ``drnet fit``: the validation mIoU it reports equals the
mIoU of evaluating its checkpoint in one process (metrics are summed across processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drnet.cli import main
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _last_miou(root: Path) -> float:
    rows = runs.metric_rows(root, "val/mIoU")
    assert rows, f"no validation logged under {root}"
    return float(rows[-1]["val/mIoU"])


def test_two_process_ddp_fit_matches_single_process_validation(tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    data = ["--data.init_args.num_train", "16", "--data.init_args.num_val", "6",
            "--data.init_args.image_size", "64", "--data.init_args.batch_size", "4",
            "--data.init_args.val_batch_size", "1", "--trainer.val_check_interval", "null",
            "--trainer.default_root_dir", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "drnet.cli", "fit", "--trainer.accelerator", "cpu",
               "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.max_epochs", "1",
               *data]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stdout + result.stderr
    reported = _last_miou(run)

    single = tmp_path / "single"
    assert main(["validate", *data[:-1], str(single), "--ckpt_path",
                 str(runs.checkpoint(run))]) == 0
    assert _last_miou(single) == pytest.approx(reported, abs=1e-6)
