"""A run killed with SIGKILL mid-epoch resumes with ``--ckpt_path last`` and, in deterministic
mode, ends exactly where the uninterrupted run ends (same weights, same validation mIoU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.fixtures import runs

STEPS_PER_EPOCH = 24


def _command(root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "drnet.cli", "fit", "--data.num_train",
            str(4 * STEPS_PER_EPOCH), "--data.num_val", "4", "--data.image_size", "48",
            "--data.batch_size", "4", "--trainer.max_epochs", "2", "--trainer.max_steps", "-1",
            "--trainer.val_check_interval", "null", "--trainer.deterministic", "true",
            "--checkpoint_every_n_steps", "1", "--trainer.default_root_dir", str(root), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
            "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def _final(root: Path) -> tuple[float, dict[str, torch.Tensor], int]:
    rows = runs.metric_rows(root, "val/mIoU")
    state = torch.load(runs.checkpoint(root), weights_only=True)
    return float(rows[-1]["val/mIoU"]), state["state_dict"], state["global_step"]


def _global_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["global_step"])
    except Exception:  # not written yet
        return -1


def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    done = subprocess.run(_command(whole), env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(killed), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = killed / "version_0" / "checkpoints" / "last.ckpt"  # the first run under the root
    try:
        deadline = time.monotonic() + 300
        while _global_step(last) < 3:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    step = _global_step(last)
    assert step % STEPS_PER_EPOCH > 0, f"killed at step {step}: not mid-epoch"

    resumed = subprocess.run(_command(killed, "--ckpt_path", "last"), env=_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    miou, weights, steps = _final(whole)
    miou_resumed, weights_resumed, steps_resumed = _final(killed)
    assert steps_resumed == steps == 2 * STEPS_PER_EPOCH
    assert miou_resumed == pytest.approx(miou, abs=1e-7)
    for key, value in weights.items():
        torch.testing.assert_close(weights_resumed[key], value, rtol=0, atol=0, msg=key)
