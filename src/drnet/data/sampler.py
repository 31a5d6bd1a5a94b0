"""A training order that depends only on (seed, epoch), shared out over the DDP processes and
resumable part-way through an epoch.

A run killed mid-epoch and resumed from its last checkpoint must see exactly the batches the
uninterrupted run would have seen, on every process, so the order cannot come from a
generator's running state: each epoch's permutation is drawn afresh from ``seed`` and the epoch
number, padded (by repeating its start, as ``DistributedSampler`` does) to a multiple of the
number of processes, and dealt out like cards: position ``p`` goes to rank ``p % world_size``.
The position saved in a checkpoint is the number of samples of that order consumed by all
ranks together; a resumed rank skips them without loading them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from drnet.errors import DrnetValueError


class EpochSampler(DistributedSampler[int]):
    """This rank's share of epoch ``set_epoch(e)``'s order (``len()`` indices: the epoch's
    ``size`` padded to a multiple of ``num_replicas``), from a position set by
    :meth:`load_state_dict` on.

    It is a ``DistributedSampler`` because it does that job: Lightning then uses it as it is
    instead of wrapping it in a second sampler that would shard the shards.
    """

    def __init__(self, size: int, *, seed: int = 0, shuffle: bool = True,
                 num_replicas: int = 1, rank: int = 0) -> None:
        if size < 1:
            raise DrnetValueError(f"size must be >= 1, got {size}")
        super().__init__(range(size), num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=False)
        self.size = size
        self._resume: tuple[int, int] | None = None  # (epoch, consumed), for one iteration

    def order(self) -> list[int]:
        """The current epoch's order for all ranks together, padded to ``total_size``."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        while len(order) < self.total_size:  # fewer samples than ranks needs several rounds
            order += order[:self.total_size - len(order)]
        return order

    def __iter__(self) -> Iterator[int]:
        start = 0
        if self._resume is not None:
            epoch, consumed = self._resume
            self._resume = None
            if epoch == self.epoch:  # a position restored too late for its epoch is dropped
                start = consumed
        return iter(self.order()[start + self.rank::self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples  # the whole epoch: Lightning counts resumed batches on top

    def position(self, epoch: int, batches: int, batch_size: int) -> dict[str, int]:
        """The state after every rank trained on ``batches`` batches of epoch ``epoch``: the
        samples consumed by all ranks together (a finished epoch is the start of the next)."""
        consumed = batches * batch_size * self.num_replicas
        if consumed >= self.total_size:
            epoch, consumed = epoch + 1, 0
        return {"epoch": epoch, "consumed": consumed, "world_size": self.num_replicas,
                "batch_size": batch_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue epoch ``state["epoch"]`` after its first ``state["consumed"]`` samples (all
        ranks together) at the next iteration. Mid-epoch, that needs the world size that saved
        it: with another one each rank's batches, and so Lightning's per-rank batch counts, the
        step count and the schedule, would differ from the interrupted run's."""
        epoch, consumed = int(state["epoch"]), int(state["consumed"])
        saved = int(state.get("world_size", self.num_replicas))
        if consumed and saved != self.num_replicas:
            raise DrnetValueError(f"this checkpoint was saved mid-epoch (epoch {epoch}, {consumed} "
                                  f"of {saved * math.ceil(self.size / saved)} samples) by {saved} "
                                  f"processes; resume it with {saved} processes (now "
                                  f"{self.num_replicas}), or resume from a checkpoint written at "
                                  "an epoch end, which any number of processes can continue")
        if not 0 <= consumed <= self.total_size or consumed % self.num_replicas:
            raise DrnetValueError(f"consumed must be a multiple of {self.num_replicas} in [0, "
                                  f"{self.total_size}], got {consumed}")
        self.set_epoch(epoch)
        self._resume = (epoch, consumed)


class ResumableLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochSampler` that saves and restores its position
    (Lightning's ``state_dict``/``load_state_dict`` protocol, so Lightning knows a mid-epoch
    resume is exact and does not warn that it is not).

    ``progress()`` gives (epoch, batches of it trained): the trainer's own counts, because this
    loader runs ahead of training (Lightning fetches a batch early; workers prefetch more), so
    the batches it has handed out are not the batches trained on.
    """

    def __init__(self, dataset: Any, *, sampler: EpochSampler, batch_size: int,
                 progress: Callable[[], tuple[int, int]], **kwargs: Any) -> None:
        super().__init__(dataset, sampler=sampler, batch_size=batch_size, **kwargs)
        self.epoch_sampler, self.progress = sampler, progress

    def state_dict(self) -> dict[str, int]:
        return self.epoch_sampler.position(*self.progress(), self.batch_size or 1)

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from ``state`` (nothing saved: from the start). Mid-epoch, that needs the
        batch size that saved it, or Lightning's count of the epoch's batches, kept from the
        interrupted run, would end the epoch too early or too late."""
        if not state:
            return
        if "consumed" not in state:  # drnet before DDP resume: batches of a single process
            done = int(state.get("batches", 0)) * (self.batch_size or 1)
            state = {"epoch": int(state["epoch"]), "world_size": 1,
                     "consumed": done if done < self.epoch_sampler.size else 0}
        saved = int(state.get("batch_size", self.batch_size or 1))
        if state["consumed"] and saved != self.batch_size:
            raise DrnetValueError(f"this checkpoint was saved mid-epoch with batch_size {saved}; "
                                  f"resume it with batch_size {saved} (now {self.batch_size}), or "
                                  "resume from a checkpoint written at an epoch end")
        self.epoch_sampler.load_state_dict(state)
