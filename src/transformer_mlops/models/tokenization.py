"""Tokenizers for the from-scratch model (the `tokenizers` library): characters or BPE.

One vocabulary serves source and target (the date task shares its characters; real text uses
a joint BPE), so embeddings can be shared as in the paper (3.4).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SPECIAL_TOKENS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)


def train_tokenizer(texts: Iterable[str], kind: str = "char", vocab_size: int = 8000) -> Tokenizer:
    """Train a character-level (`char`) or byte-pair (`bpe`) tokenizer on `texts`."""
    if kind == "char":
        tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()  # characters join without spaces
        trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS)
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'char' or 'bpe'")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [PAD_ID, BOS_ID, EOS_ID, UNK_ID]
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer saved with `tokenizer.save(path)` (tokenizer.json)."""
    return Tokenizer.from_file(str(path))


def decode_ids(tokenizer: Tokenizer, ids: list[int]) -> str:
    """Text of generated ids, stopping at the first EOS."""
    if EOS_ID in ids:
        ids = ids[: ids.index(EOS_ID)]
    return tokenizer.decode(ids, skip_special_tokens=True)
