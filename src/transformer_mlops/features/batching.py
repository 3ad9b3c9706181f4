"""Length-bucketed batches with dynamic padding: little compute is spent on padding.

Examples are sorted by length inside large shuffled windows, cut into batches, and the batches
shuffled, so each batch holds similar lengths but the order still changes every epoch. A length
curriculum (`curriculum_epochs`) orders the first epochs' batches shortest first instead: short,
easy examples before long ones (a sequence-length warmup), which gets a fine-tuned model past
its first plateau sooner on tasks like bAbI. Under DDP each rank takes its own share of the
batches: equal counts for training (so no rank waits forever in a gradient all-reduce), every
example exactly once for evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import Sampler

IGNORE = -100  # label of a position with no loss (torch's and Hugging Face's ignore_index)


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose lengths are close; deterministic for (seed, epoch)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 window: int = 50, num_replicas: int = 1, rank: int = 0,
                 curriculum_epochs: int = 0):  # fmt: skip
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.window = window * batch_size  # examples sorted together
        self.num_replicas = num_replicas
        self.rank = rank
        self.curriculum_epochs = curriculum_epochs  # first epochs: shortest batches first
        self.epoch = 0
        self.skip_once = 0  # set after a mid-epoch resume: batches of this epoch already trained
        # Lightning calls `set_epoch` on `loader.sampler` and `loader.batch_sampler.sampler`, never
        # on the batch sampler itself: without this, every epoch repeated epoch 0's order (and
        # its length curriculum).
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch: a new, reproducible order."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.window):
            chunk = sorted(order[start : start + self.window], key=self.lengths.__getitem__)
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        if self.shuffle:
            rng.shuffle(batches)
            if self.epoch < self.curriculum_epochs:  # stable: equal lengths keep the shuffle
                batches.sort(key=lambda batch: max(self.lengths[i] for i in batch))
        if self.num_replicas == 1:
            return batches
        if self.shuffle:  # training: equal counts per rank (every step all-reduces gradients)
            usable = len(batches) - len(batches) % self.num_replicas
            return batches[self.rank : usable : self.num_replicas]
        # evaluation: every example exactly once, and a batch for every rank when possible
        while len(batches) < self.num_replicas and max(len(b) for b in batches) > 1:
            largest = max(range(len(batches)), key=lambda i: len(batches[i]))
            batch = batches.pop(largest)
            batches[largest:largest] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
        return batches[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip_once = self.skip_once, 0
        return iter(self._batches()[skip:])

    def __len__(self) -> int:
        return len(self._batches())


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a Hugging Face encoder takes from a collated batch (labels and bookkeeping,
    such as a window's example and first word, left out)."""
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


def pad(sequences: Sequence[Sequence[int]], pad_id: int, multiple_of: int = 1) -> torch.Tensor:
    """Right-pad id lists to the longest in the batch, rounded up to `multiple_of`: (B, L)."""
    longest = -(-max(len(s) for s in sequences) // multiple_of) * multiple_of
    out = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def bucketed_loader(items: Sequence, lengths: Sequence[int], batch_size: int, *, shuffle: bool,
                    seed: int, trainer, collate: Callable,
                    curriculum_epochs: int = 0) -> torch.utils.data.DataLoader:  # fmt: skip
    """A DataLoader of length-bucketed batches, sharded by the trainer's rank under DDP."""
    sampler = LengthBucketBatchSampler(
        lengths, batch_size, shuffle=shuffle, seed=seed,
        num_replicas=trainer.world_size if trainer else 1, rank=trainer.global_rank if trainer else 0,
        curriculum_epochs=curriculum_epochs,
    )  # fmt: skip
    return torch.utils.data.DataLoader(items, batch_sampler=sampler, collate_fn=collate)
