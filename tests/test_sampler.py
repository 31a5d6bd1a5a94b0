"""EpochSampler and ResumableLoader against independent references: the (seed, epoch)
permutation written out here, torch's DistributedSampler for padding and dealing it out to the
ranks, and plain slicing for what a resumed rank must still see."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from lightning.fabric.utilities.types import _Stateful
from torch.utils.data import DistributedSampler

from drnet.data.sampler import EpochSampler, ResumableLoader

# (samples, ranks): even, uneven (padding), fewer samples than ranks, a single process
SHAPES = [(10, 2), (29, 2), (7, 3), (2, 4), (9, 1)]


def _permutation(size: int, seed: int, epoch: int) -> list[int]:
    """The epoch's order as drnet has always drawn it (one process sees exactly this)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(size, generator=generator).tolist()


def _shard(size: int, seed: int, epoch: int, world: int, rank: int) -> list[int]:
    """Rank ``rank``'s indices: torch's DistributedSampler padding and dealing out positions
    of the epoch's order (unshuffled, so it only deals), mapped through the permutation."""
    positions = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=False)
    order = _permutation(size, seed, epoch)
    return [order[p] for p in positions]


def _sampler(size: int, world: int, rank: int, epoch: int, seed: int = 3) -> EpochSampler:
    sampler = EpochSampler(size, seed=seed, num_replicas=world, rank=rank)
    sampler.set_epoch(epoch)
    return sampler


@pytest.mark.parametrize(("size", "world"), SHAPES)
@pytest.mark.parametrize("epoch", [0, 5])
def test_each_rank_gets_its_share_of_the_seeded_epoch_order(size: int, world: int,
                                                           epoch: int) -> None:
    for rank in range(world):
        sampler = _sampler(size, world, rank, epoch)
        expected = _shard(size, 3, epoch, world, rank)
        assert list(sampler) == expected
        assert len(sampler) == len(expected) == math.ceil(size / world)
        assert list(sampler) == expected  # and again: a new iteration starts the epoch afresh


@pytest.mark.parametrize(("size", "world"), SHAPES)
def test_the_ranks_together_cover_the_epoch_and_repeat_only_the_padding(size: int,
                                                                        world: int) -> None:
    seen = Counter(i for rank in range(world) for i in _sampler(size, world, rank, 1))
    assert set(seen) == set(range(size))
    assert seen.total() == world * math.ceil(size / world)


def test_the_order_changes_with_the_epoch_and_the_seed() -> None:
    orders = {tuple(_sampler(50, 1, 0, epoch, seed)) for epoch in (0, 1) for seed in (0, 1)}
    assert len(orders) == 4
    assert list(EpochSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("size", "world"), SHAPES)
def test_a_resumed_rank_sees_the_tail_of_its_uninterrupted_shard(size: int, world: int) -> None:
    share = math.ceil(size / world)
    for rank in range(world):
        whole = _shard(size, 3, 2, world, rank)
        for done in range(share + 1):  # samples each rank consumed before the interruption
            sampler = EpochSampler(size, seed=3, num_replicas=world, rank=rank)  # a new process
            sampler.load_state_dict({"epoch": 2, "consumed": done * world, "world_size": world})
            assert list(sampler) == whole[done:], (rank, done)
            assert list(sampler) == whole  # the skip applies to the interrupted epoch only


@pytest.mark.parametrize(("size", "world", "batch"), [(29, 2, 2), (10, 2, 4), (9, 1, 3)])
def test_position_counts_all_ranks_and_resumes_after_the_batches_trained(
        size: int, world: int, batch: int) -> None:
    batches_per_epoch = math.ceil(math.ceil(size / world) / batch)
    for done in range(batches_per_epoch):
        state = _sampler(size, world, 0, 4).position(4, done, batch)
        assert state == {"epoch": 4, "consumed": done * batch * world, "world_size": world,
                         "batch_size": batch}
        for rank in range(world):
            sampler = EpochSampler(size, seed=3, num_replicas=world, rank=rank)
            sampler.load_state_dict(state)
            assert list(sampler) == _shard(size, 3, 4, world, rank)[done * batch:]
    # all batches trained (the last one may be short): the next epoch starts
    assert _sampler(size, world, 0, 4).position(4, batches_per_epoch, batch) == {
        "epoch": 5, "consumed": 0, "world_size": world, "batch_size": batch}


def test_a_mid_epoch_position_needs_the_world_size_that_saved_it() -> None:
    sampler = EpochSampler(29, num_replicas=1, rank=0)
    with pytest.raises(ValueError, match=r"by 2 processes; resume it with 2 processes \(now 1\)"):
        sampler.load_state_dict({"epoch": 1, "consumed": 4, "world_size": 2})
    sampler.load_state_dict({"epoch": 1, "consumed": 0, "world_size": 2})  # an epoch start
    assert list(sampler) == _permutation(29, 0, 1)


def test_positions_that_no_run_can_have_reached_are_refused() -> None:
    sampler = EpochSampler(29, num_replicas=2, rank=1)
    for consumed in (3, -2, 32):  # not a multiple of the ranks; outside the padded epoch of 30
        with pytest.raises(ValueError, match="consumed must be a multiple of 2 in"):
            sampler.load_state_dict({"epoch": 0, "consumed": consumed, "world_size": 2})


def test_a_position_restored_after_its_epoch_began_is_dropped() -> None:
    sampler = _sampler(12, 2, 1, 0)
    sampler.load_state_dict({"epoch": 0, "consumed": 4, "world_size": 2})
    sampler.set_epoch(1)  # Lightning moved on before iterating: epoch 1 starts at its start
    assert list(sampler) == _shard(12, 3, 1, 2, 1)


def test_the_loader_is_resumable_by_lightnings_protocol() -> None:
    data = list(range(29))
    sampler = EpochSampler(29, seed=3, num_replicas=2, rank=1)
    loader = ResumableLoader(data, sampler=sampler, batch_size=2, progress=lambda: (2, 3))
    assert isinstance(loader, _Stateful)  # what Lightning checks before warning on resume
    state = loader.state_dict()
    assert state == {"epoch": 2, "consumed": 12, "world_size": 2, "batch_size": 2}

    fresh = ResumableLoader(data, sampler=EpochSampler(29, seed=3, num_replicas=2, rank=1),
                            batch_size=2, progress=lambda: (0, 0))
    fresh.load_state_dict(state)
    expected = _shard(29, 3, 2, 2, 1)[6:]  # 3 batches of 2 done by this rank
    assert [i for batch in fresh for i in batch.tolist()] == expected
    fresh.load_state_dict({})  # no position saved (a checkpoint from outside fit): no change
    assert len(list(fresh)) == 8


def test_a_mid_epoch_position_needs_the_batch_size_that_saved_it() -> None:
    def loader(batch_size: int) -> ResumableLoader:
        return ResumableLoader(list(range(29)), sampler=EpochSampler(29, num_replicas=2, rank=0),
                               batch_size=batch_size, progress=lambda: (0, 0))
    with pytest.raises(ValueError, match=r"batch_size 2; resume it with batch_size 2 \(now 4\)"):
        loader(4).load_state_dict({"epoch": 0, "consumed": 8, "world_size": 2, "batch_size": 2})
    at_epoch_start = loader(4)
    at_epoch_start.load_state_dict({"epoch": 3, "consumed": 0, "world_size": 2, "batch_size": 2})
    assert [i for b in at_epoch_start for i in b.tolist()] == _shard(29, 0, 3, 2, 0)


def test_a_position_saved_by_the_single_process_sampler_before_ddp_still_resumes() -> None:
    def resumed(state: dict[str, int]) -> list[int]:
        loader = ResumableLoader(list(range(29)), sampler=EpochSampler(29), batch_size=4,
                                 progress=lambda: (0, 0))
        loader.load_state_dict(state)
        return [i for batch in loader for i in batch.tolist()]
    assert resumed({"epoch": 2, "batches": 3}) == _permutation(29, 0, 2)[12:]
    # the old epoch-end form: the batches of the finished epoch, with the next epoch's number
    assert resumed({"epoch": 2, "batches": 8}) == _permutation(29, 0, 2)
