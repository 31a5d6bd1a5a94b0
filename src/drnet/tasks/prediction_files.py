"""Where ``drnet predict`` writes: one set of files per input, mirroring its path, and never over
an earlier run's outputs unless asked.

An input's outputs keep its whole path relative to the predict source's root (the folder given,
or the deepest folder holding every listed image) and its full file name, extension included,
then the kind of output: ``a/img.png`` -> ``a/img.png_labels.png``, ``a/img.png_overlay.png``
(or ``a/img.png_boxes.png``), so ``a/img.png``, ``b/img.png`` and ``a/img.jpg`` never share a
file. Inputs whose dataset has no root are named by their file name, and two inputs that would
share an output within a run are an error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drnet.data.predict import common_root
from drnet.errors import DrnetError

IMAGE_SUFFIXES = ("_labels.png", "_overlay.png", "_boxes.png")
TABLE_NAMES = ("predictions.csv", "detections.csv")


class PredictionOutputError(DrnetError, ValueError):
    """The output folder cannot take this run's predictions (the message says why)."""


def output_root(dataset: Any) -> Path | None:
    """The folder a dataset's outputs mirror: its ``root`` (:class:`~drnet.data.PredictImages`),
    else the deepest folder holding its ``images``, else ``None`` (file names only)."""
    root = getattr(dataset, "root", None)
    if root is not None:
        return Path(os.path.abspath(root))
    images = getattr(dataset, "images", None)
    if images:
        return common_root([Path(p) for p in images])
    return None


class OutputNames:
    """Maps each input to the base of its output files inside ``output_dir`` (see the module
    docstring); ``roots`` holds one root (or ``None``) per predict dataloader."""

    def __init__(self, output_dir: Path, roots: Sequence[Path | None], rank: int = 0,
                 world_size: int = 1) -> None:
        self.output_dir, self.roots = output_dir, list(roots)
        self.rank, self.world_size = rank, world_size
        self._owners: dict[Path, str] = {}

    def base(self, path: str | None, index: int, dataloader_idx: int = 0) -> Path:
        """``output_dir / <relative path>``; append a kind (``_labels.png``) to name a file."""
        if path is None:
            name = f"image_{index:06d}" if self.world_size == 1 else (
                f"image_rank{self.rank}_{index:06d}")
            key = name
        else:
            root = self.roots[dataloader_idx] if dataloader_idx < len(self.roots) else None
            name, key = _relative(path, root), os.path.abspath(path)
        base = self.output_dir / name
        owner = self._owners.setdefault(base, key)
        if owner != key:
            raise PredictionOutputError(f"inputs {owner} and {path} would both be written as "
                                        f"{base}*: give the predict source as one folder or list "
                                        "so that outputs can mirror the input paths")
        return base


def _relative(path: str, root: Path | None) -> str:
    if root is not None:
        relative = os.path.relpath(os.path.abspath(path), root)
        if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
            return Path(relative).as_posix()
    return Path(path).name


def check_output_dir(output_dir: Path, overwrite: bool, source_folders: Sequence[Path]) -> None:
    """Refuse, before any prediction, an output folder that a folder source would read back,
    and one holding an earlier run's predictions unless ``overwrite``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise PredictionOutputError(f"--writer.output_dir {output_dir} is a file, expected a "
                                    "folder")
    out = Path(os.path.realpath(output_dir))
    for folder in source_folders:
        real = Path(os.path.realpath(folder))
        if out == real or real in out.parents:
            raise PredictionOutputError(
                f"--writer.output_dir {output_dir} is inside the predict folder {folder}, which "
                "is read with its sub-folders: a later run would take the outputs for images; "
                "choose an output folder outside it")
    if overwrite:
        return
    previous = previous_output(output_dir)
    if previous is not None:
        raise PredictionOutputError(
            f"--writer.output_dir {output_dir} already holds predictions ({previous}): set "
            "--writer.overwrite true to replace them, or choose another folder")


def previous_output(folder: Path) -> Path | None:
    """The first file under ``folder`` (sorted walk) named like a ``drnet predict`` output."""
    if not folder.is_dir():
        return None
    for parent, folders, files in os.walk(folder):
        folders.sort()
        for name in sorted(files):
            if name in TABLE_NAMES or name.endswith(IMAGE_SUFFIXES):
                return Path(parent) / name
    return None
