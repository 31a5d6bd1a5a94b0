"""Two-process CPU DDP (gloo) runs of the real ``drnet fit``: killed with SIGKILL mid-epoch and
resumed with ``--ckpt_path last``, they end with the weights and validation mIoU of an
uninterrupted two-process run (deterministic mode), without Lightning's "not resumable"
warning; the uninterrupted run's ``last.ckpt`` holds its final step although that step is not a
multiple of the checkpoint interval; a mid-epoch checkpoint refuses another world size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.fixtures import runs

# 29 samples over 2 ranks: 15 per rank (one sample repeated as padding), 8 batches of 2 per
# epoch, the last one of a single sample.
NUM_TRAIN, BATCH, WORLD = 29, 2, 2
STEPS_PER_EPOCH = 8
EPOCHS = 2


def _last_checkpoint(root: Path) -> Path:
    """Where ``drnet fit`` writes ``last.ckpt`` for ``--trainer.default_root_dir root``."""
    return root / "version_0" / "checkpoints" / "last.ckpt"  # the only fit run under root


def _command(root: Path, *extra: str, processes: int = WORLD) -> list[str]:
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
              str(processes)] if processes > 1 else []
    return [sys.executable, *launch, "-m", "drnet.cli", "fit", "--trainer.accelerator", "cpu",
            "--trainer.strategy", "ddp" if processes > 1 else "auto",
            "--trainer.devices", str(processes), "--data.num_train", str(NUM_TRAIN),
            "--data.num_val", "4", "--data.image_size", "48", "--data.batch_size", str(BATCH),
            "--data.val_batch_size", "2", "--trainer.max_epochs", str(EPOCHS),
            "--trainer.max_steps", "-1", "--trainer.val_check_interval", "null",
            "--trainer.deterministic", "true", "--trainer.default_root_dir", str(root), *extra]


def _env() -> dict[str, str]:
    # Warnings stay on: the resumed run must not print Lightning's "not resumable" one.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    env.pop("PYTHONWARNINGS", None)
    return env


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)


def _global_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["global_step"])
    except Exception:  # not written yet
        return -1


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (torchrun starts each worker in its own session, so
    killing torchrun's process group would leave the workers running)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def _last_miou(root: Path) -> float:
    rows = runs.metric_rows(root, "val/mIoU")
    assert rows, f"no validation logged under {root}"
    return float(rows[-1]["val/mIoU"])


def _kill_mid_epoch(root: Path, after_step: int) -> Path:
    """Start the run, SIGKILL both workers (then torchrun) once ``last.ckpt`` holds
    ``after_step`` or a later step; returns a copy of that mid-epoch checkpoint."""
    process = subprocess.Popen(_command(root, "--checkpoint_every_n_steps", "1"), env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = _last_checkpoint(root)
    try:
        deadline = time.monotonic() + 240
        while _global_step(last) < after_step:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, f"no step {after_step} after 240 s"
            time.sleep(0.02)
        # torchrun's workers, and anything they started (a multiprocessing resource tracker
        # may be among torchrun's children too): every descendant dies at once.
        workers = _descendants(process.pid)
        assert len(workers) >= WORLD, workers
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    step = _global_step(last)
    assert step % STEPS_PER_EPOCH > 0, f"killed at step {step}: not mid-epoch"
    return Path(shutil.copy(last, root / "mid_epoch.ckpt"))


@pytest.mark.slow
def test_two_process_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(
        tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    # 16 steps, saved every 5: the last periodic save is step 15, the end must still be kept.
    done = _run(_command(whole, "--checkpoint_every_n_steps", "5"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stdout + done.stderr

    killed = tmp_path / "killed"
    mid_epoch = _kill_mid_epoch(killed, after_step=STEPS_PER_EPOCH + 2)  # in the 2nd epoch
    resumed = _run(_command(killed, "--checkpoint_every_n_steps", "1", "--ckpt_path", "last"))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "not resumable" not in resumed.stdout + resumed.stderr

    final = torch.load(_last_checkpoint(whole), weights_only=True)
    final_resumed = torch.load(_last_checkpoint(killed), weights_only=True)
    # Each rank took its own half of the data: Lightning did not shard the shards again.
    assert final["global_step"] == final_resumed["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert _last_miou(killed) == pytest.approx(_last_miou(whole), abs=1e-7)
    for key, value in final["state_dict"].items():
        torch.testing.assert_close(final_resumed["state_dict"][key], value, rtol=0, atol=0,
                                   msg=key)

    # The mid-epoch position counts both ranks' samples; one process cannot continue it.
    state = torch.load(mid_epoch, weights_only=True)["SyntheticContextDataModule"]
    step = _global_step(mid_epoch)
    assert state == {"epoch": 1, "consumed": (step - STEPS_PER_EPOCH) * BATCH * WORLD,
                     "world_size": WORLD, "batch_size": BATCH}
    alone = _run(_command(tmp_path / "alone", "--ckpt_path", str(mid_epoch), processes=1))
    assert alone.returncode == 2
    assert "resume it with 2 processes (now 1)" in alone.stderr
