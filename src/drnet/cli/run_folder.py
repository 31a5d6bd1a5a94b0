"""One run, one folder: where ``drnet fit|validate|test|predict`` write, and what
``--ckpt_path last|best`` means.

Under ``trainer.default_root_dir`` (the root), every ``drnet fit`` gets a new folder
``version_N`` (N one more than the highest there; created with an atomic ``mkdir``, so runs
started at once get different folders) holding ``checkpoints/best.ckpt``, ``checkpoints/last.ckpt``,
``config.yaml``, ``logs/`` (CSV, one ``version_K`` per session) and ``tensorboard/``. Resuming
from a checkpoint of a run folder continues that folder, which a lock keeps to one process at a
time. ``validate``, ``test`` and ``predict`` get ``<sub-command>/version_N`` (their logs, config
and, by default, predictions). ``--ckpt_path last`` (or ``best``) is the newest run folder's
``checkpoints/last.ckpt``; nothing there is an error naming the folder searched, never a silent
start from scratch. Only the first process of a distributed run creates folders: the others
resolve the same checkpoint read-only, and Lightning gives them the first process's folder.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import IO

import lightning as L
from lightning.pytorch.cli import SaveConfigCallback

from drnet.errors import DrnetError
from drnet.models.checkpoint_files import CheckpointError

RUN_PREFIX = "version_"
_NUMBER = re.compile(rf"^{RUN_PREFIX}(\d+)$")


class RunFolderError(DrnetError, ValueError):
    """A run folder that cannot be used (taken by another process, nothing to resume)."""


def run_folders(parent: Path) -> list[Path]:
    """``parent/version_N`` folders, newest (highest N) first."""
    if not parent.is_dir():
        return []
    found = [(int(m[1]), p) for p in parent.iterdir()
             if p.is_dir() and (m := _NUMBER.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def resolve_named_checkpoint(root: Path, name: str) -> Path:
    """``--ckpt_path last|best``: the newest run folder's ``checkpoints/<name>.ckpt``."""
    folders = run_folders(root)
    for folder in folders:
        path = folder / "checkpoints" / f"{name}.ckpt"
        if path.is_file():
            return path
    searched = f"{len(folders)} run folder{'s' * (len(folders) != 1)}"
    raise CheckpointError(
        f"--ckpt_path {name}: no {name}.ckpt in {root}/{RUN_PREFIX}*/checkpoints/ ({searched} "
        f"searched); check --trainer.default_root_dir (or the config's), or pass the file")


def run_folder_of(checkpoint: Path, root: Path) -> Path | None:
    """The run folder under ``root`` that ``checkpoint`` belongs to, if any."""
    folder = checkpoint.resolve().parent.parent
    inside = checkpoint.resolve().parent.name == "checkpoints" and _NUMBER.match(folder.name)
    return root / folder.name if inside and folder.parent == root.resolve() else None


def new_run_folder(parent: Path) -> Path:
    """Create ``parent/version_N`` with N above every existing one (race-free: ``mkdir`` fails
    for all but one process claiming the same N)."""
    parent.mkdir(parents=True, exist_ok=True)
    existing = run_folders(parent)
    number = int(_NUMBER.match(existing[0].name)[1]) + 1 if existing else 0
    while True:
        folder = parent / f"{RUN_PREFIX}{number}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            number += 1


class RunLock:
    """An exclusive lock on a run folder for this process's lifetime (``flock``: released by
    the kernel when the process dies, so a killed run never leaves a stale lock)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._handle: IO[str] | None = open(self.path, "a+")  # noqa: SIM115  (held open)
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            holder = self._handle.read().strip() or "another process"
            self._handle.close()
            self._handle = None
            raise RunFolderError(f"run folder {folder} is in use by {holder}: wait for it to "
                                 f"end, or start a new run (without --ckpt_path)") from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"drnet process {os.getpid()}\n")
        self._handle.flush()

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class RunConfig(SaveConfigCallback):
    """Writes the resolved ``config.yaml`` into the run folder (not the first logger's folder),
    replacing the one a resumed session found there."""

    folder: Path | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **{**kwargs, "save_to_log_dir": False})

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.folder is not None and trainer.is_global_zero:
            self.parser.save(self.config, str(self.folder / self.config_filename),
                             skip_none=False, overwrite=True, multifile=self.multifile)
