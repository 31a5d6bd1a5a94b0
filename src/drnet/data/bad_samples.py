"""Bad samples: the error type, and skipping them (counted per file) instead of stopping a run.

By default a sample that cannot be used raises :class:`BadSampleError` naming its file. With
``skip_bad_samples=True`` on a DataModule, the first time a file is found bad a warning names
it, the sample is left out of its batch, and the number of bad files is reported when the run
ends. More bad files than ``max_bad_fraction`` of a split is an error naming the data set: so
many unusable files point at a wrong path or format, not at a few corrupt files.

Counting across DataLoader workers: each dataset holds one byte per sample in shared memory,
and a worker that finds sample ``i`` bad sets byte ``i`` to 1. Workers never read-modify-write
a shared counter (two increments could be lost), and a file read again (another epoch, the
sanity check, a second worker) sets the same byte: the count is of files, not of reads.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.utils.data import default_collate

from drnet.errors import DrnetError, DrnetValueError


class BadSampleError(DrnetError, ValueError):
    """A sample that cannot be used as it is (the message names the file and the problem)."""


class TooManyBadSamplesError(BadSampleError):
    """More bad files than a split may skip, or no usable sample at all (names the data set)."""


def check_fraction(value: float) -> float:
    """``max_bad_fraction`` as given, if it is a fraction."""
    if not 0.0 <= value <= 1.0:
        raise DrnetValueError("max_bad_fraction must be in [0, 1] (the share of a split's files "
                              f"that may be skipped as bad), got {value}")
    return float(value)


class SkipsBadSamples:
    """Mixin for datasets of files: with ``skip_bad = True`` a :class:`BadSampleError` from
    ``_load`` becomes a warning (once per file), the sample is dropped (``None``, removed by the
    collate functions) and marked bad in shared memory (see the module docstring). Subclasses
    implement ``_load`` and ``__len__``, call :meth:`_init_bad_counter` once their length is
    known, and set ``name``; indexing goes through the guard here."""

    skip_bad: bool = False
    max_bad_fraction: float = 1.0
    name: str = "data set"

    def _init_bad_counter(self) -> None:
        self._bad_flags = torch.zeros(len(self), dtype=torch.uint8).share_memory_()  # type: ignore[arg-type]

    @property
    def bad_flags(self) -> torch.Tensor:
        """One byte per sample, 1 where the sample was found bad (shared with the workers)."""
        return self._bad_flags

    @property
    def bad_samples(self) -> int:
        """The number of distinct samples (files) found bad so far."""
        return int(self._bad_flags.sum())

    def __getitem__(self, index: int) -> Any:
        try:
            return self._load(index)
        except BadSampleError as err:
            if not self.skip_bad:
                raise
            if not self._bad_flags[index]:
                self._bad_flags[index] = 1
                warnings.warn(f"skipped a bad sample: {err}", stacklevel=2)
            self._check_bad_fraction()
            return None

    def _check_bad_fraction(self) -> None:
        """Stop as soon as the bad files are certain to exceed the allowed share of the split
        (the count only grows)."""
        bad, total = self.bad_samples, len(self)  # type: ignore[arg-type]
        if bad > self.max_bad_fraction * total:
            what = ("every file is bad: no usable sample" if bad == total else
                    f"{bad / total:.1%} is more than max_bad_fraction={self.max_bad_fraction:g} "
                    "allows")
            raise TooManyBadSamplesError(
                f"{self.name}: {bad} of {total} files are bad ({what}); fix or remove them "
                "(each is named in a warning above) or raise --data.max_bad_fraction")

    def _load(self, index: int) -> Any:
        raise NotImplementedError


def collate_dicts(samples: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """``default_collate`` without skipped samples (``None``); ``None`` if nothing is left."""
    samples = [s for s in samples if s is not None]
    return default_collate(samples) if samples else None
