"""Length-bucketed batches, their DDP shards, and padding (features/batching.py)."""

from __future__ import annotations

import pytest

from transformer_mlops.features.batching import LengthBucketBatchSampler, pad


def test_bucketed_batches_cover_everything_once_and_group_lengths():
    lengths = [(i * 7919) % 50 + 1 for i in range(1000)]
    sampler = LengthBucketBatchSampler(lengths, batch_size=32, seed=3, window=10)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(sampler)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(
        batches
    )
    assert spread < 10  # random batches of 32 would span ~45


def test_bucketed_order_is_reproducible_and_changes_by_epoch():
    lengths = list(range(300))
    a, b = (
        LengthBucketBatchSampler(lengths, 16, seed=1),
        LengthBucketBatchSampler(lengths, 16, seed=1),
    )
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first


def test_length_curriculum_orders_its_epochs_shortest_first_then_shuffles():
    lengths = [(i * 7919) % 50 + 1 for i in range(1000)]
    sampler = LengthBucketBatchSampler(lengths, 16, seed=2, window=10, curriculum_epochs=1)
    plain = LengthBucketBatchSampler(lengths, 16, seed=2, window=10)
    longest = [max(lengths[i] for i in b) for b in sampler]
    assert longest == sorted(longest)
    assert sorted(map(sorted, sampler)) == sorted(map(sorted, plain))  # the same batches
    sampler.set_epoch(1)
    plain.set_epoch(1)
    assert list(sampler) == list(plain)  # after the curriculum: the usual shuffled order
    ranks = [
        LengthBucketBatchSampler(lengths, 16, seed=2, num_replicas=2, rank=r, curriculum_epochs=1)
        for r in (0, 1)
    ]
    for shard in ranks:  # under DDP every rank climbs the lengths too
        longest = [max(lengths[i] for i in b) for b in shard]
        assert longest == sorted(longest)


def test_ranks_get_disjoint_equal_shares():
    lengths = [i % 30 for i in range(1001)]
    shards = [
        list(LengthBucketBatchSampler(lengths, 10, seed=0, num_replicas=2, rank=r)) for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1])
    seen = [i for shard in shards for b in shard for i in b]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(("n", "batch_size"), [(40, 256), (1001, 10), (3, 2)])
def test_evaluation_shards_cover_every_example_once_with_a_batch_per_rank(n, batch_size):
    lengths = [i % 30 for i in range(n)]
    shards = [
        list(LengthBucketBatchSampler(lengths, batch_size, shuffle=False, num_replicas=2, rank=r))
        for r in (0, 1)
    ]
    assert all(shards)  # one batch that cannot be shared is split, so no rank idles
    seen = sorted(i for shard in shards for b in shard for i in b)
    assert seen == list(range(n))


def test_pad_right_pads():
    assert pad([[1, 2, 3], [4]], 0).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert pad([[1, 2, 3], [4]], 0, multiple_of=4).tolist() == [[1, 2, 3, 0], [4, 0, 0, 0]]
    assert pad([[1] * 8], 0, multiple_of=8).shape == (1, 8)  # already a multiple: unchanged
