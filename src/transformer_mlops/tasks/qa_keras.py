"""Extractive-QA fine-tuning in Keras 3 (TensorFlow backend): `qa.framework: tensorflow`.

The same job as `tasks/qa.py`, on the same prepared windows (features/qa.py), with `model.fit`:
length-bucketed batches in the same order (`LengthBucketBatchSampler`, padded to a multiple of
32 for XLA), XLA-compiled steps (deterministic on CPU), AdamW with the same warmup/decay table
and decay groups, global-norm clipping, seeds, validation SQuAD F1 after every epoch for the
best weights and early stopping, the evidence head, and `last.ckpt` every `checkpoint_every_n_steps` steps so a killed
stage resumes mid-epoch to the same result. The best weights are written back as a Hugging Face
`BertForQuestionAnswering` folder (the format of record: evaluation, the registry, `predict`
and ONNX export read it unchanged) plus a TF SavedModel in its `saved_model/` folder.
Its callbacks (validation, steps, last.ckpt) and resume state are in `tasks/keras_callbacks.py`.

Settings that do not apply here, and why: `devices`/`strategy`/`num_nodes` (one CPU process:
the `tensorflow-cpu` wheel; DDP is the PyTorch path's), `fast_dropout` (a torch kernel).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transformer_mlops.config import QaConfig
from transformer_mlops.errors import ConfigError
from transformer_mlops.features.batching import IGNORE, LengthBucketBatchSampler
from transformer_mlops.features.qa import PAD_MULTIPLE, QaFeature, collate, encode_records
from transformer_mlops.io import atomic_dir, read_jsonl
from transformer_mlops.models import keras_bert
from transformer_mlops.tasks.hardware import resolve_precision
from transformer_mlops.tasks.keras_callbacks import Steps, Validation, restore
from transformer_mlops.tasks.optim import decays, lr_lambda
from transformer_mlops.tasks.pretrained import resolve_pretrained
from transformer_mlops.tasks.resume import LAST

keras = keras_bert.keras
log = logging.getLogger(__name__)


def check_settings(cfg: QaConfig) -> None:
    """Refuse the trainer settings the Keras path cannot honour, naming the params key."""
    trainer = cfg.train.trainer
    if trainer.accelerator not in ("auto", "cpu"):
        raise ConfigError(f"qa.train.trainer.accelerator = {trainer.accelerator}: qa.framework = "
                          "tensorflow trains on the CPU (the tensorflow-cpu wheel); use cpu or auto")  # fmt: skip
    if (
        str(trainer.devices) not in ("1", "auto")
        or trainer.num_nodes != 1
        or trainer.strategy != "auto"
    ):
        raise ConfigError("qa.train.trainer.devices/num_nodes/strategy: qa.framework = tensorflow "
                          "trains in one process; multi-device training is the pytorch path's (DDP)")  # fmt: skip
    if trainer.max_epochs == -1 and trainer.max_steps == -1:
        raise ConfigError(
            "qa.train.trainer.max_epochs = -1: qa.framework = tensorflow needs "
            "max_epochs or max_steps (its LR schedule is a table of known length)"
        )
    if trainer.precision not in ("auto", "32-true", "32", "bf16-mixed", "bf16"):
        raise ConfigError(f"qa.train.trainer.precision = {trainer.precision}: qa.framework = "
                          "tensorflow supports auto, 32-true and bf16-mixed")  # fmt: skip
    if cfg.train.layer_lr_decay != 1.0:
        raise ConfigError(f"qa.train.layer_lr_decay = {cfg.train.layer_lr_decay}: qa.framework = "
                          "tensorflow trains every layer at one LR; set 1.0, or use the pytorch "
                          "path for layer-wise LR decay")  # fmt: skip


# ------------------------------------------------------------------------------ data


# XLA compiles the training step once per (batch, length) shape: padding to multiples of 32
# (not 8) gives 6 shapes instead of 19 on the default data (~10 s of compiling each) for ~20%
# more padded tokens, and 12 instead of 48 for windows of 384.
XLA_PAD_MULTIPLE = 32


def batches(
    features: list[QaFeature],
    pad_id: int,
    sampler: LengthBucketBatchSampler,
    tokens: list[int],
    multiple_of: int = XLA_PAD_MULTIPLE,
):
    """(inputs, labels) numpy batches in the sampler's order for its current epoch; the real
    (not padding) tokens of each batch are appended to `tokens`, for the throughput."""
    for indices in sampler:
        batch = collate([features[i] for i in indices], pad_id, multiple_of)
        inputs = keras_bert.model_arrays(batch)
        tokens.append(int(inputs["attention_mask"].sum()))
        labels = {k: batch[k].numpy() for k in ("start_positions", "end_positions")}
        evidence = batch.get("evidence_labels")  # one signature for every batch
        labels["evidence_labels"] = (evidence.numpy() if evidence is not None
                                     else np.full_like(inputs["input_ids"], IGNORE))  # fmt: skip
        yield inputs, labels


def dataset(
    features: list[QaFeature],
    pad_id: int,
    sampler: LengthBucketBatchSampler,
    state: dict,
    tokens: list[int],
    multiple_of: int = XLA_PAD_MULTIPLE,
):
    """A tf.data stream of training batches, epoch after epoch in the sampler's order, from
    where `state` says training is (epoch, batches done in it: a resume starts mid-epoch).
    `fit` is given `steps_per_epoch`: with a dataset of unknown length Keras 3.15 counts one
    optimizer iteration too many at every epoch end, which would shift the LR schedule."""
    import tensorflow as tf

    def stream():
        epoch, skip = state["epoch"], state["batches_done"]
        while True:
            sampler.set_epoch(epoch)
            sampler.skip_once = skip
            yield from batches(features, pad_id, sampler, tokens, multiple_of)
            epoch, skip = epoch + 1, 0

    matrix = tf.TensorSpec((None, None), tf.int64)
    vector = tf.TensorSpec((None,), tf.int64)
    signature = (
        {"input_ids": matrix, "attention_mask": matrix, "token_type_ids": matrix},
        {"start_positions": vector, "end_positions": vector, "evidence_labels": matrix},
    )
    return tf.data.Dataset.from_generator(stream, output_signature=signature)


# ------------------------------------------------------------------------------ model


class SpanModel(keras_bert.BertForQa):
    """`BertForQa` whose loss is HF's span loss (mean of start and end cross-entropy) plus the
    weighted evidence loss, as in `tasks/qa.py`."""

    evidence_weight = 0.0

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        ops = keras.ops
        span = 0.5 * (
            ops.mean(keras.losses.sparse_categorical_crossentropy(
                y["start_positions"], y_pred["start_logits"], from_logits=True))
            + ops.mean(keras.losses.sparse_categorical_crossentropy(
                y["end_positions"], y_pred["end_logits"], from_logits=True))
        )  # fmt: skip
        if "evidence_logits" not in y_pred:
            return span
        labels = y["evidence_labels"]
        known = ops.cast(ops.not_equal(labels, IGNORE), "float32")
        per_token = keras.losses.binary_crossentropy(
            ops.cast(ops.maximum(labels, 0), "float32")[..., None],
            y_pred["evidence_logits"][..., None], from_logits=True,
        )  # fmt: skip
        evidence = ops.sum(per_token * known) / ops.maximum(ops.sum(known), 1.0)
        return span + self.evidence_weight * evidence


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """The PyTorch path's warmup + decay (`tasks/optim.py: lr_lambda`) as a per-step table."""

    def __init__(self, peak: float, factors: list[float]):
        self.peak, self.factors = peak, factors
        self.table = keras.ops.convert_to_tensor(np.array(factors, dtype="float32") * peak)

    def __call__(self, step):
        index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(self.factors) - 1)
        return keras.ops.take(self.table, index)

    def get_config(self) -> dict:
        return {"peak": self.peak, "factors": self.factors}


def optimizer_for(model: SpanModel, cfg: QaConfig, total_steps: int):
    """AdamW: torch's defaults (eps 1e-8), no decay on biases, norms and embeddings, global
    norm clipping at `gradient_clip_val`, gradient accumulation as configured."""
    opt, trainer = cfg.train.optimizer, cfg.train.trainer
    optimizer = keras.optimizers.AdamW(
        learning_rate=Schedule(opt.lr, [lr_lambda(opt, total_steps)(s) for s in range(total_steps + 1)]),
        weight_decay=opt.weight_decay, beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=1e-8,
        global_clipnorm=trainer.gradient_clip_val or None,
        gradient_accumulation_steps=trainer.accumulate_grad_batches if trainer.accumulate_grad_batches > 1 else None,
    )  # fmt: skip
    no_decay = [v for v in model.trainable_variables if not decays(v.path, len(v.shape))]
    optimizer.exclude_from_weight_decay(var_list=no_decay)
    return optimizer


# ------------------------------------------------------------------------------ save


def save_hf(
    model: SpanModel, tokenizer, source: str, out_dir: str | Path, framework_note: dict
) -> None:
    """The trained weights as a Hugging Face `BertForQuestionAnswering` folder (safetensors,
    config, tokenizer) with a TF SavedModel (`serving_default`) in `saved_model/`; `out_dir`
    is replaced only once both are complete."""
    from transformers import AutoConfig, BertForQuestionAnswering

    config = AutoConfig.from_pretrained(source)
    config.architectures = ["BertForQuestionAnswering"]
    config.transformer_mlops = framework_note
    torch_model = BertForQuestionAnswering(config)
    state = {k: torch.from_numpy(v) for k, v in keras_bert.hf_state_dict(model).items()}
    missing, unexpected = torch_model.load_state_dict(state, strict=False)
    if missing or unexpected:  # a broken name map must never save a half-trained model
        raise RuntimeError(
            f"Keras -> HF weight map incomplete: missing {missing}, unexpected {unexpected}"
        )
    with atomic_dir(out_dir) as tmp:
        torch_model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        export_saved_model(model, Path(tmp) / "saved_model")


def export_saved_model(model: SpanModel, path: Path) -> None:
    """A TF SavedModel whose `serving_default` takes int64 (batch, length) ids, mask and
    token types and returns start/end logits."""
    import tensorflow as tf

    spec = {k: tf.TensorSpec((None, None), tf.int64, name=k)
            for k in ("input_ids", "attention_mask", "token_type_ids")}  # fmt: skip
    export = keras.export.ExportArchive()
    export.track(model)

    @tf.function(input_signature=[spec])
    def serve(inputs):
        out = model(inputs, training=False)
        return {"start_logits": out["start_logits"], "end_logits": out["end_logits"]}

    export.add_endpoint("serving_default", serve)
    export.write_out(str(path), verbose=False)


# ------------------------------------------------------------------------------ train


def train(cfg: QaConfig, prepared_dir: str | Path, model_dir: str | Path, checkpoint_dir: str | Path,
          callbacks: list | None = None, logger=False, ckpt_path: str | Path | None = None,
          **overrides: Any) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the configured BERT encoder for extractive QA in Keras; save the best weights
    to `model_dir` (HF folder + SavedModel). `callbacks` are extra Keras callbacks, `logger`
    the stage's MLflow logger (its `log_metrics`), `ckpt_path` a last.ckpt to resume from.
    Returns the summary `tasks/qa.py` returns."""
    import tensorflow as tf
    from transformers import AutoConfig, AutoTokenizer

    started = time.perf_counter()
    check_settings(cfg)
    train_cfg, trainer = cfg.train, cfg.train.trainer
    if trainer.num_threads:
        tf.config.threading.set_intra_op_parallelism_threads(trainer.num_threads)
    keras.utils.set_random_seed(train_cfg.seed)
    # XLA fuses the encoder's element-wise ops (norms, GELU, softmax, bias adds) that TF's graph
    # runs one kernel at a time: 2.2x -> ~1x PyTorch's step at length 64 (docs/tensorflow.md);
    # each new (batch, length) shape compiles once (~10 s). XLA's CPU code is deterministic; on
    # a GPU Keras refuses XLA under op determinism, so a deterministic GPU run goes without it.
    jit = not (trainer.deterministic and tf.config.list_physical_devices("GPU"))
    if not jit:
        tf.config.experimental.enable_op_determinism()
    precision = resolve_precision(trainer.precision, "cpu")
    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if precision == "bf16-mixed" else "float32"
    )
    log.info("precision %s (params: %s), framework tensorflow %s, keras %s, XLA %s", precision,
             trainer.precision, tf.__version__, keras.__version__, "on" if jit else "off")  # fmt: skip

    source = resolve_pretrained(cfg.model, key="qa.model")
    config = AutoConfig.from_pretrained(source).to_dict()
    keras_bert.check_bert(config, cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(source)

    prepared = Path(prepared_dir)
    records = {split: read_jsonl(prepared / f"{split}.jsonl") for split in ("train", "validation")}
    features = {
        split: encode_records(tokenizer, records[split], cfg, prepared / f"{split}.jsonl",
                              with_evidence=split == "train" and train_cfg.evidence.weight > 0)
        for split in records
    }  # fmt: skip

    evidence = train_cfg.evidence
    layers = config["num_hidden_layers"]
    model = SpanModel(config, dropout=train_cfg.dropout,
                      evidence_layer=evidence.layer % (layers + 1) if evidence.weight > 0 else None)  # fmt: skip
    model.evidence_weight = evidence.weight
    model.build_for()
    fresh = keras_bert.load_hf_weights(model, keras_bert.read_safetensors(source), cfg.model)
    log.info(
        "Keras BERT from %s: new task head %s (trained from scratch)",
        source,
        ", ".join(fresh) or "none",
    )
    model.frozen(train_cfg.freeze_word_embeddings, train_cfg.freeze_layers)

    lengths = [len(f.input_ids) for f in features["train"]]
    sampler = LengthBucketBatchSampler(lengths, train_cfg.batch_size, shuffle=True, seed=train_cfg.seed,
                                       curriculum_epochs=train_cfg.length_curriculum_epochs)  # fmt: skip
    per_epoch = len(sampler)
    if overrides:
        raise TypeError(f"trainer overrides the Keras path does not take: {sorted(overrides)}")
    epochs = trainer.max_epochs if trainer.max_epochs != -1 else -(-trainer.max_steps // per_epoch)
    total = (
        per_epoch * epochs
        if trainer.max_steps == -1
        else min(per_epoch * epochs, trainer.max_steps)
    )
    total = max(1, -(-total // trainer.accumulate_grad_batches))
    model.compile(optimizer=optimizer_for(model, cfg, total), jit_compile=jit)  # Keras: off on CPU

    state: dict[str, Any] = {"best": None, "best_weights": None, "bad_epochs": 0, "epoch": 0,
                             "batches_done": 0, "curves": {"train_loss": [], "val": []}, "metrics": [],
                             "step_seconds": 0.0}  # fmt: skip
    checkpoint = Path(checkpoint_dir) / LAST
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if ckpt_path:
        restore(Path(ckpt_path), model, state)
        log.info("resumed from %s: epoch %d, %d batches into it", ckpt_path, state["epoch"] + 1,
                 state["batches_done"])  # fmt: skip

    tokens: list[int] = []
    pad_id = tokenizer.pad_token_id
    data = dataset(features["train"], pad_id, sampler, state, tokens,
                   XLA_PAD_MULTIPLE if jit else PAD_MULTIPLE)  # fmt: skip
    steps = Steps(cfg, state, checkpoint, logger, total)
    validation = Validation(features["validation"], records["validation"], pad_id, cfg, state)
    every = [validation, steps, *(callbacks or [])]
    fit_started = time.perf_counter()
    if state["batches_done"]:  # a resume mid-epoch: the rest of that epoch first
        model.fit(data, epochs=state["epoch"] + 1, initial_epoch=state["epoch"], verbose=0, shuffle=False,
                  steps_per_epoch=per_epoch - state["batches_done"], callbacks=every)  # fmt: skip
    if not model.stop_training and state["epoch"] < epochs:
        model.fit(data, epochs=epochs, initial_epoch=state["epoch"], steps_per_epoch=per_epoch,
                  verbose=0, shuffle=False, callbacks=every)  # fmt: skip
    train_seconds = state["step_seconds"]
    log.info("fit: %.1f s, of which %.1f s in training steps (the rest: tracing, validation, "
             "checkpoints)", time.perf_counter() - fit_started, train_seconds)  # fmt: skip
    steps.flush_metrics()
    if state["best_weights"] is not None:
        model.set_weights(state["best_weights"])
    save_hf(model, tokenizer, source, model_dir, {"framework": "tensorflow", "tensorflow": tf.__version__,
                                                   "keras": keras.__version__})  # fmt: skip
    global_step = int(model.optimizer.iterations.numpy())
    real_tokens = sum(tokens)
    return {
        "best_val_f1": state["best"] or 0.0,
        "global_step": global_step,
        "train_tokens_per_second": real_tokens / max(train_seconds, 1e-9),
        "train_seconds": train_seconds,
        "precision": precision,
        "plots": state["curves"],
        "wall_seconds": time.perf_counter() - started,
        "windows": {split: len(f) for split, f in features.items()},
        "framework": "tensorflow",
    }
