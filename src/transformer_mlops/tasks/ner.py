"""NER fine-tuning with Lightning: a pretrained encoder + token-classification head.

Labels sit on each word's first subword (see `features/ner.py`); validation decodes word-level
IOB2 tags and scores entity F1 with seqeval (strict IOB2), which drives early stopping and the
best checkpoint. The result is saved with `save_pretrained`, so `transformers.pipeline` loads it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from transformers import AutoModelForTokenClassification

from transformer_mlops.config import FinetuneTrainConfig, NerConfig
from transformer_mlops.data.schema import label_set
from transformer_mlops.errors import ConfigError
from transformer_mlops.features.batching import IGNORE, bucketed_loader, model_inputs
from transformer_mlops.features.ner import WORD_CASE_KEY, WORD_CASES, Feature, collate, encode
from transformer_mlops.io import read_jsonl
from transformer_mlops.tasks.hardware import configure_threads
from transformer_mlops.tasks.optim import adamw_with_schedule
from transformer_mlops.tasks.pretrained import (
    embedding_layer,
    finetune_and_save,
    layer_lr_scales,
    load_for_finetuning,
)
from transformer_mlops.tasks.resume import ResumableBatches

log = logging.getLogger(__name__)


def labels_for(cfg: NerConfig, train: list[dict]) -> list[str]:
    """The label set: O + B-/I- of the configured entity types (or those seen in train)."""
    types = cfg.data.entity_types or sorted({t[2:] for r in train for t in r["tags"] if t != "O"})
    return label_set(types)


class NerDataModule(ResumableBatches, L.LightningDataModule):
    """Prepared sentences -> windows of subwords with aligned labels, length-bucketed."""

    def __init__(
        self, prepared_dir: str | Path, tokenizer, label2id: dict[str, int], cfg: NerConfig
    ):
        super().__init__()
        self.prepared_dir, self.tokenizer, self.label2id, self.cfg = (
            Path(prepared_dir),
            tokenizer,
            label2id,
            cfg,
        )
        self.features: dict[str, list[Feature]] = {}
        self.records: dict[str, list[dict]] = {}
        self.split_sentences: dict[str, int] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "validation"):
            if split in self.features:
                continue
            self.records[split] = read_jsonl(self.prepared_dir / f"{split}.jsonl")
            sentences = [r["tokens"] for r in self.records[split]]
            tags = [r["tags"] for r in self.records[split]]
            self.features[split], self.split_sentences[split] = encode(
                self.tokenizer,
                sentences,
                tags,
                self.label2id,
                self.cfg.max_length,
                self.cfg.label_all_subwords,
                with_case=self.cfg.word_case,
            )
            if self.split_sentences[split]:
                log.info("%s: %d sentences longer than max_length=%d were split into windows",
                         split, self.split_sentences[split], self.cfg.max_length)  # fmt: skip

    def _loader(self, split: str, shuffle: bool, batch_size: int):
        features, pad_id = self.features[split], self.tokenizer.pad_token_id
        return bucketed_loader(features, [len(f.input_ids) for f in features], batch_size, shuffle=shuffle,
                               seed=self.cfg.train.seed, trainer=self.trainer,
                               collate=lambda b: collate(b, pad_id),
                               curriculum_epochs=self.cfg.train.length_curriculum_epochs)  # fmt: skip

    def train_dataloader(self):
        return self.resume_position(self._loader("train", True, self.cfg.train.batch_size))

    def val_dataloader(self):
        return self._loader("validation", False, self.cfg.train.eval_batch_size)


def word_predictions(
    logits: torch.Tensor, labels: torch.Tensor
) -> list[tuple[list[int], list[int]]]:
    """Per row: (predicted ids, gold ids) at the labelled positions (each word's first subword)."""
    predicted = logits.argmax(-1)
    rows = []
    for row in range(labels.size(0)):
        keep = labels[row] != IGNORE
        rows.append((predicted[row][keep].tolist(), labels[row][keep].tolist()))
    return rows


class NerModule(L.LightningModule):
    """Token classification; validation entity F1 (seqeval, strict IOB2)."""

    def __init__(self, model, id2label: dict[int, str], train_cfg: FinetuneTrainConfig):
        super().__init__()
        self.model, self.id2label, self.train_cfg = model, id2label, train_cfg
        self.save_hyperparameters({"id2label": id2label, "train": train_cfg.model_dump()})
        self._windows: list[tuple[int, int, list[int], list[int]]] = []

    def model_step(self, batch: dict[str, torch.Tensor]):
        return self.model(**model_inputs(batch), labels=batch["labels"])

    def training_step(self, batch, batch_idx):
        out = self.model_step(batch)
        self.log("train/loss", out.loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return out.loss

    def validation_step(self, batch, batch_idx):
        out = self.model_step(batch)
        self.log("val/loss", out.loss, batch_size=batch["input_ids"].size(0), sync_dist=True)
        for row, (pred, gold) in enumerate(word_predictions(out.logits.float(), batch["labels"])):
            self._windows.append(
                (int(batch["example"][row]), int(batch["first_word"][row]), pred, gold)
            )

    def on_validation_epoch_end(self) -> None:
        gathered = [self._windows]
        if self.trainer.world_size > 1:
            gathered = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(gathered, self._windows)
        gold, pred = sentences_from_windows([w for part in gathered for w in part], self.id2label)
        f1 = f1_score(gold, pred, mode="strict", scheme=IOB2) if gold else 0.0
        self.log("val/f1", 100.0 * float(f1), prog_bar=True)  # percent, as in reports
        self._windows = []

    def configure_optimizers(self):
        total = int(self.trainer.estimated_stepping_batches)
        scales = layer_lr_scales(self.model, self.train_cfg.layer_lr_decay)
        return adamw_with_schedule(
            self.model, self.train_cfg.optimizer, total, str(self.trainer.precision), scales
        )


def token_types_for_case(model) -> None:
    """Grow the encoder's token-type embeddings to one row per WORD_CASES entry, each a copy of
    row 0 (the type of every single-sentence input in pretraining), so training starts from the
    pretrained behaviour; the config then says the model reads word casing there."""
    embeddings = embedding_layer(model)
    old = getattr(embeddings, "token_type_embeddings", None)
    if not isinstance(old, torch.nn.Embedding):
        raise ConfigError(f"ner.word_case: {type(model).__name__} has no token-type embeddings to "
                          "carry word casing; use false")  # fmt: skip
    new = torch.nn.Embedding(len(WORD_CASES), old.embedding_dim)
    with torch.no_grad():
        new.weight.copy_(old.weight[0].expand_as(new.weight))
    embeddings.token_type_embeddings = new
    model.config.type_vocab_size = len(WORD_CASES)
    setattr(model.config, WORD_CASE_KEY, True)


def sentences_from_windows(
    windows: list[tuple[int, int, list[int], list[int]]], id2label: dict[int, str]
):
    """Join each sentence's windows back in word order: (gold tag lists, predicted tag lists)."""
    by_example: dict[int, list] = {}
    for example, _first_word, pred, gold in sorted(windows, key=lambda w: (w[0], w[1])):
        by_example.setdefault(example, []).append((pred, gold))
    gold_tags = [[id2label[i] for _, g in parts for i in g] for parts in by_example.values()]
    pred_tags = [[id2label[i] for p, _ in parts for i in p] for parts in by_example.values()]
    return gold_tags, pred_tags


def train(cfg: NerConfig, prepared_dir: str | Path, model_dir: str | Path, checkpoint_dir: str | Path,
          callbacks: list | None = None, logger=False, ckpt_path: str | Path | None = None,
          **trainer_overrides: Any) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the configured encoder for NER; save the best model to `model_dir`."""
    started = time.perf_counter()
    configure_threads(cfg.train.trainer)
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    labels = labels_for(cfg, read_jsonl(Path(prepared_dir) / "train.jsonl"))
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = {i: label for label, i in label2id.items()}
    tokenizer, model = load_for_finetuning(
        AutoModelForTokenClassification, cfg.model, cfg.train, "ner",
        num_labels=len(labels), id2label=id2label, label2id=label2id,
    )  # fmt: skip
    if cfg.word_case:
        token_types_for_case(model)
    data = NerDataModule(prepared_dir, tokenizer, label2id, cfg)
    module = NerModule(model, id2label, cfg.train)
    summary = finetune_and_save(module, data, tokenizer, cfg.train, checkpoint_dir, model_dir,
                                callbacks, logger, ckpt_path, **trainer_overrides)  # fmt: skip
    return {
        **summary,
        "wall_seconds": time.perf_counter() - started,
        "split_sentences": data.split_sentences,
    }
