"""Deterministic generators for the default data of each task (no download needed)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from transformer_mlops.config import SPLITS, SyntheticConfig
from transformer_mlops.data.schema import content_key
from transformer_mlops.data.synthetic import dates, encyclopedia, ner, stories

# QA draws an encyclopedia-style paragraph this often, else a story (4 vs 5 questions each: about
# a fifth of the questions are about paragraphs).
ENCYCLOPEDIC_SHARE = 0.25


def _qa(rng: random.Random, seed: int) -> list[dict]:
    if rng.random() < ENCYCLOPEDIC_SHARE:
        return encyclopedia.paragraph(rng, seed)
    return stories.story(rng)


def _examples(task: str, rng: random.Random, seed: int) -> Iterator[dict]:
    """An endless stream of candidate examples for `task`."""
    sampler: Callable[[], list[dict]] = {
        "seq2seq": lambda: [dates.sample(rng)],
        "ner": lambda: [ner.sample(rng, seed)],
        "qa": lambda: _qa(rng, seed),
    }[task]
    while True:
        yield from sampler()


def generate(task: str, sizes: SyntheticConfig, seed: int) -> dict[str, list[dict]]:
    """Generate the train/validation/test splits of `task`.

    Examples are unique by content across all splits, so no test example leaks into train.
    The same (task, sizes, seed) always gives the same data.
    """
    rng = random.Random(f"{task}:{seed}")
    wanted = {split: getattr(sizes, split) for split in SPLITS}
    total = sum(wanted.values())
    seen: set[str] = set()
    pool: list[dict] = []
    for attempts, example in enumerate(_examples(task, rng, seed)):
        if len(pool) == total:
            break
        if attempts > 50 * total + 1000:
            raise RuntimeError(f"{task}: could not generate {total} distinct examples")
        key = content_key(task, example)
        if key not in seen:
            seen.add(key)
            pool.append(example)
    splits, start = {}, 0
    for split in SPLITS:
        chunk = pool[start : start + wanted[split]]
        start += wanted[split]
        splits[split] = [{"id": f"{task}-{split}-{i:06d}", **ex} for i, ex in enumerate(chunk)]
    return splits
