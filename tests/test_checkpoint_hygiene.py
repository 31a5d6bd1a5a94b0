"""Issue 13, item 5: checkpoint files honour the umask like any file the user writes, and the
temporary file of a killed write is removed by the next write (never one being written)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from drnet import atomic_files
from drnet.cli import main
from drnet.tasks.checkpoint_io import atomic_save

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

# A process that writes a 4 MB checkpoint and then hangs before the rename, as if it were killed
# mid-write (os.replace is the last step of atomic_save).
HANGING_WRITER = """
import os, sys, time, torch
os.replace = lambda *args: (print("written", flush=True), time.sleep(600))
from drnet.tasks.checkpoint_io import atomic_save
atomic_save({"weights": torch.zeros(1_000_000)}, sys.argv[1])
"""


@pytest.fixture
def umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temps(folder: Path, name: str = "last.ckpt") -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


def _hanging_writer(target: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HANGING_WRITER, str(target)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "written\n"
    return child


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_atomic_save_honours_the_umask(tmp_path: Path, umask: None, mask: int) -> None:
    os.umask(mask)
    atomic_save({"step": torch.tensor(1)}, tmp_path / "last.ckpt")
    (tmp_path / "plain.txt").write_text("a file the user writes")
    assert _mode(tmp_path / "last.ckpt") == _mode(tmp_path / "plain.txt") == 0o666 & ~mask


def test_drnet_fit_writes_group_readable_checkpoints_and_removes_a_killed_write(
        tmp_path: Path, umask: None) -> None:
    def fit(*extra: str) -> int:
        return main(["fit", "--data.num_train", "4", "--data.num_val", "2", "--data.image_size",
                     "48", "--data.batch_size", "2", "--trainer.val_check_interval", "null",
                     "--trainer.default_root_dir", str(tmp_path / "run"), *extra])

    assert fit("--trainer.max_steps", "2") == 0
    folder = tmp_path / "run" / "version_0" / "checkpoints"
    child = _hanging_writer(folder / "last.ckpt")  # the run is killed while saving
    child.kill()
    child.wait()
    [stale] = _temps(folder)
    assert stale.stat().st_size > 4_000_000  # a full-size temporary file, left behind
    os.umask(0o027)  # a team's shared cluster: group may read, others may not
    assert fit("--trainer.max_steps", "4", "--ckpt_path", "last") == 0  # resumed: same folder
    assert _temps(folder) == []
    for name in ("last.ckpt", "best.ckpt"):
        assert _mode(folder / name) == 0o640, name
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 4


def test_a_temporary_file_being_written_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    child = _hanging_writer(target)
    try:
        [live] = _temps(tmp_path)
        atomic_save({"step": torch.tensor(2)}, target)  # another writer, meanwhile
        assert _temps(tmp_path) == [live]
    finally:
        child.kill()
        child.wait()
    atomic_save({"step": torch.tensor(3)}, target)  # now it is stale
    assert _temps(tmp_path) == []
    assert torch.load(target, weights_only=True)["step"] == 3


def test_only_the_targets_own_temporary_files_are_removed(tmp_path: Path) -> None:
    old_style = tmp_path / ".last.ckpt.k3j_x9q2.tmp"  # tempfile.mkstemp's, from older drnet
    other = tmp_path / ".best.ckpt.0123456789ab.tmp"
    longer = tmp_path / ".last.ckpt.bak.0123456789ab.tmp"
    for path in (old_style, other, longer):
        path.write_bytes(b"partial")
    atomic_save({"step": torch.tensor(1)}, tmp_path / "last.ckpt")
    assert not old_style.exists()
    assert other.exists()
    assert longer.exists()


def test_without_flock_only_old_temporary_files_count_as_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic_files, "_try_lock", lambda fd: None)  # e.g. some NFS mounts
    fresh = tmp_path / ".last.ckpt.000000000001.tmp"
    old = tmp_path / ".last.ckpt.000000000002.tmp"
    for path in (fresh, old):
        path.write_bytes(b"partial")
    hours_ago = time.time() - atomic_files.STALE_AFTER_S - 60
    os.utime(old, (hours_ago, hours_ago))
    atomic_save({"step": torch.tensor(1)}, tmp_path / "last.ckpt")
    assert fresh.exists()
    assert not old.exists()


def test_converted_weights_and_recorded_hashes_honour_the_umask(tmp_path: Path,
                                                                 umask: None) -> None:
    from drnet.models import sources
    from drnet.models.convert import to_safetensors

    torch.save({"w": torch.ones(3)}, tmp_path / "w.pth")
    os.umask(0o027)
    assert _mode(to_safetensors(tmp_path / "w.pth")) == 0o640
    sources._write_atomically(tmp_path / "drnet-sha256.json", b"{}\n")
    assert _mode(tmp_path / "drnet-sha256.json") == 0o640
