from __future__ import annotations

import pytest

from transformer_mlops.config import OptimizerConfig
from transformer_mlops.tasks.batching import LengthBucketBatchSampler, pad
from transformer_mlops.tasks.trainer import lr_lambda, resolve_precision


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


def test_lr_schedules_warm_up_then_decay():
    for schedule in ("inverse_sqrt", "cosine", "linear"):
        factor = lr_lambda(OptimizerConfig(warmup_steps=10, schedule=schedule), total_steps=100)
        assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
        assert factor(50) < 1.0 and factor(99) <= factor(50)
    assert lr_lambda(OptimizerConfig(warmup_steps=10, schedule="cosine"), 100)(99) == pytest.approx(
        0.0, abs=1e-3
    )


def test_precision_auto_picks_by_hardware_and_explicit_values_pass_through():
    assert resolve_precision("32-true", "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert resolve_precision("auto", "cpu") in ("bf16-mixed", "32-true")
