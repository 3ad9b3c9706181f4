"""Seq2seq features: token ids of (source, target) pairs and their padded batches, shared by
training and evaluation of the from-scratch Transformer."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer

from transformer_mlops.features.batching import pad
from transformer_mlops.models.tokenization import BOS_ID, EOS_ID, PAD_ID


def encode_pairs(
    tokenizer: Tokenizer, records: list[dict], max_src: int, max_tgt: int
) -> tuple[list, int]:
    """Token ids of (source, target) pairs; returns (pairs, how many were truncated)."""
    sources = tokenizer.encode_batch([r["source"] for r in records])
    targets = tokenizer.encode_batch([r["target"] for r in records])
    pairs, truncated = [], 0
    for src, tgt in zip(sources, targets, strict=True):
        s, t = src.ids[: max_src - 1], tgt.ids[: max_tgt - 1]  # room for EOS / BOS
        truncated += len(s) < len(src.ids) or len(t) < len(tgt.ids)
        pairs.append((s, t))
    return pairs, truncated


def collate(pairs: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """Dynamic padding: src + EOS; decoder input BOS + tgt; labels tgt + EOS."""
    return {
        "src": pad([[*s, EOS_ID] for s, _ in pairs], PAD_ID),
        "tgt_in": pad([[BOS_ID, *t] for _, t in pairs], PAD_ID),
        "tgt_out": pad([[*t, EOS_ID] for _, t in pairs], PAD_ID),
    }
