"""A prediction CSV that holds the rows of one run, replaced atomically when the run ends.

During the run each process appends its rows, prefixed by the input's index, to its own hidden
part file beside the CSV (``.predictions.csv.part<rank>``): two processes never write one file.
When the run ends, process 0 merges the parts in input order (each part is in input order
already) into a temporary file and renames it over the CSV, so the CSV is the previous run's
until then and this run's afterwards, never a mix. Under DDP the output folder must be one that
every process sees (as for checkpoints); a part that process 0 cannot find is an error.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from drnet.atomic_files import atomic_write


def part_path(target: Path, rank: int) -> Path:
    return target.parent / f".{target.name}.part{rank}"


class RunTable:
    """This process's rows of ``target`` (see the module docstring)."""

    def __init__(self, target: Path, rank: int = 0) -> None:
        self.target, self.rank = target, rank
        self.part = part_path(target, rank)
        self._handle: IO[str] | None = None
        self._rows: Any = None

    def add(self, index: int, rows: Iterable[Sequence[Any]]) -> None:
        """The rows of input ``index`` (none is fine: the CSV still replaces the old one)."""
        if self._handle is None:
            self._handle = self.part.open("w", newline="")
            self._rows = csv.writer(self._handle)
        for row in rows:
            self._rows.writerow([index, *row])

    @property
    def started(self) -> bool:
        return self._handle is not None

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()

    def discard(self) -> None:
        """After an error: close and remove the part; the CSV is left as it was."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()


def merge_parts(target: Path, header: Sequence[str], ranks: Sequence[int]) -> None:
    """Process 0: the parts of ``ranks`` merged in input order into ``target`` (atomically),
    then removed."""
    parts = [part_path(target, r) for r in ranks]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: with several processes, "
                                "--writer.output_dir must be a folder that all of them share")
    with ExitStack() as stack:
        readers = [csv.reader(stack.enter_context(p.open(newline=""))) for p in parts]
        with atomic_write(target, "w", newline="") as handle:
            rows = csv.writer(handle)
            rows.writerow(header)
            for row in heapq.merge(*readers, key=lambda r: int(r[0])):
                rows.writerow(row[1:])
    for part in parts:
        part.unlink()


def remove_parts(folder: Path, names: Sequence[str]) -> None:
    """Part files left by a killed run (before a new run starts writing its own)."""
    for name in names:
        for part in folder.glob(f".{name}.part*"):
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
