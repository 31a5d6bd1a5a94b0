"""Bad samples: the error type, and skipping them (counted) instead of stopping a run.

By default a sample that cannot be used raises :class:`BadSampleError` naming its file. With
``skip_bad_samples=True`` on a DataModule, each one is a warning naming the file, the sample is
left out of its batch, and the count is reported when the run ends.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.utils.data import default_collate


class BadSampleError(ValueError):
    """A sample that cannot be used as it is (the message names the file and the problem)."""


class SkipsBadSamples:
    """Mixin: with ``skip_bad = True`` a :class:`BadSampleError` becomes a warning naming the
    file, the sample is dropped (``None``, removed by the collate functions) and counted in
    ``bad_samples`` -- a shared-memory counter, so DataLoader workers add to the same count."""

    skip_bad: bool = False

    def _init_bad_counter(self) -> None:
        self._bad = torch.zeros(1, dtype=torch.int64).share_memory_()

    @property
    def bad_samples(self) -> int:
        return int(self._bad.item())

    def _guarded(self, index: int) -> Any:
        try:
            return self._load(index)
        except BadSampleError as err:
            if not self.skip_bad:
                raise
            self._bad += 1
            warnings.warn(f"skipped a bad sample: {err}", stacklevel=2)
            return None

    def _load(self, index: int) -> Any:
        raise NotImplementedError


def collate_dicts(samples: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """``default_collate`` without skipped samples (``None``); ``None`` if nothing is left."""
    samples = [s for s in samples if s is not None]
    return default_collate(samples) if samples else None
