"""A training order that depends only on (seed, epoch) and can start part-way through an epoch.

A run killed mid-epoch and resumed from its last checkpoint must see exactly the batches the
uninterrupted run would have seen, so the order cannot come from a generator's running state:
each epoch's permutation is drawn afresh from ``seed`` and the epoch number, and ``start`` skips
the samples the interrupted run already consumed (without loading them).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Shuffled (or sequential) indices for epoch ``set_epoch(e)``, from position ``start``."""

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.epoch = 0
        self.start = 0  # applies to the next iteration only

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at every epoch start."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        start, self.start = self.start, 0
        return iter(order[start:])

    def __len__(self) -> int:
        return self.size  # the whole epoch: Lightning counts resumed batches on top
