"""The Keras QA path's callbacks and resume state (`tasks/qa_keras.py` trains with them): what
Lightning's callbacks and checkpoints do for the PyTorch path. `Validation` scores whole
questions after every epoch, keeps the best weights and stops early; `Steps` times steps, logs
curves, metrics and progress lines and writes last.ckpt; `save_resume_state` / `restore` write
and read that last.ckpt (weights, optimizer, dropout generators, position), so a killed stage
resumes mid-epoch to the same result.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from transformer_mlops.config import QaConfig
from transformer_mlops.features.batching import LengthBucketBatchSampler
from transformer_mlops.features.qa import best_span, collate, pick_answers
from transformer_mlops.features.squad_metric import squad_scores
from transformer_mlops.models import keras_bert
from transformer_mlops.tasks.progress import progress_every, progress_line
from transformer_mlops.tasks.resume import save_checkpoint_file

keras = keras_bert.keras
log = logging.getLogger(__name__)


class Validation(keras.callbacks.Callback):
    """After every epoch: SQuAD F1/EM of whole questions over all their windows, the best
    weights kept, early stopping after `patience` epochs without improvement."""

    def __init__(self, features, records, pad_id: int, cfg: QaConfig, state: dict):
        super().__init__()
        self.features, self.records, self.pad_id, self.cfg, self.state = (
            features,
            records,
            pad_id,
            cfg,
            state,
        )
        self.forward = None
        self.sampler = LengthBucketBatchSampler([len(f.input_ids) for f in features],
                                                cfg.train.eval_batch_size, shuffle=False)  # fmt: skip

    def scores(self) -> dict[str, float]:
        if self.forward is None:  # traced once for any batch shape, not run op by op
            import tensorflow as tf

            spec = {
                k: tf.TensorSpec((None, None), tf.int64)
                for k in ("input_ids", "attention_mask", "token_type_ids")
            }
            self.forward = tf.function(
                lambda x: self.model(x, training=False), input_signature=[spec]
            )
        candidates, losses, cfg = [], [], self.cfg
        for indices in self.sampler:
            batch = collate([self.features[i] for i in indices], self.pad_id)
            out = self.forward(keras_bert.model_arrays(batch))
            start = torch.from_numpy(np.array(out["start_logits"]))
            end = torch.from_numpy(np.array(out["end_logits"]))
            losses.append(float(0.5 * (torch.nn.functional.cross_entropy(start, batch["start_positions"])
                                       + torch.nn.functional.cross_entropy(end, batch["end_positions"]))))  # fmt: skip
            for row, index in enumerate(indices):
                candidate = best_span(self.features[index], start[row], end[row], cfg.n_best,
                                      cfg.max_answer_length)  # fmt: skip
                if candidate is not None:
                    candidates.append(candidate)
        answers = pick_answers(candidates, [r["context"] for r in self.records])
        scores = squad_scores(
            [a["answer"] for a in answers], [r["answers"]["text"] for r in self.records]
        )
        return {
            "val/loss": float(np.mean(losses)),
            "val/f1": scores["f1"],
            "val/exact_match": scores["exact_match"],
        }

    def on_epoch_end(self, epoch, logs=None):
        scores = self.scores()
        step = int(self.model.optimizer.iterations.numpy())
        state = self.state
        state["curves"]["val"].append(
            {"step": step, **{k.replace("/", "_"): round(v, 5) for k, v in scores.items()}}
        )
        state["metrics"].append((step, scores))
        log.info("epoch %d, step %d: val f1 %.2f, exact match %.2f, loss %.4f", epoch, step,
                 scores["val/f1"], scores["val/exact_match"], scores["val/loss"])  # fmt: skip
        if state["best"] is None or scores["val/f1"] > state["best"]:
            state["best"], state["best_weights"], state["bad_epochs"] = (
                scores["val/f1"],
                self.model.get_weights(),
                0,
            )
        else:
            state["bad_epochs"] += 1
            if state["bad_epochs"] >= self.cfg.train.early_stopping_patience:
                log.info("early stopping: no better val f1 for %d epochs", state["bad_epochs"])
                self.model.stop_training = True


class Steps(keras.callbacks.Callback):
    """Per step: its time (batch start to end, as Lightning's throughput counts), the position
    in the epoch, curves and MLflow metrics every `log_every_n_steps`, progress lines,
    max_steps / max_minutes, and last.ckpt for a resume."""

    def __init__(self, cfg: QaConfig, state: dict, checkpoint: Path, logger, total_steps: int):
        super().__init__()
        self.cfg, self.state, self.checkpoint, self.logger = cfg, state, checkpoint, logger
        self.total_steps, self.every_line = total_steps, progress_every()
        self.started = self.last_line = 0.0
        self.mean_before = 0.0

    def on_train_begin(self, logs=None):
        self.started = self.last_line = time.monotonic()

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.state["step_seconds"] += time.perf_counter() - self.batch_started
        state, trainer = self.state, self.cfg.train.trainer
        step = int(self.model.optimizer.iterations.numpy())
        state["batches_done"] += 1
        # Keras reports the epoch's running mean; the batch's own loss, as Lightning logs it:
        mean = float(logs["loss"])
        loss, self.mean_before = (
            (batch + 1) * mean - batch * (self.mean_before if batch else 0.0),
            mean,
        )
        if step % trainer.log_every_n_steps == 0:
            state["curves"]["train_loss"].append({"step": step, "train_loss": round(loss, 5)})
            state["metrics"].append((step, {"train/loss": loss}))
        now = time.monotonic()
        if now - self.last_line >= self.every_line:
            self.last_line = now
            log.info(
                "%s",
                progress_line(step, self.total_steps, state["epoch"], loss, now - self.started),
            )
        if step % trainer.checkpoint_every_n_steps == 0:
            save_resume_state(self.checkpoint, self.model, state)
        if (trainer.max_steps != -1 and step >= trainer.max_steps) or (
            trainer.max_minutes and now - self.started >= 60 * trainer.max_minutes
        ):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):  # after Validation (listed before this)
        self.state["epoch"], self.state["batches_done"] = epoch + 1, 0
        save_resume_state(self.checkpoint, self.model, self.state)
        self.flush_metrics()

    def flush_metrics(self):
        if self.logger:
            for step, values in self.state.pop("metrics"):
                self.logger.log_metrics(values, step=step)
        self.state["metrics"] = []


# ------------------------------------------------------------------------------ resume


def dropout_states(model) -> list:
    """The dropout layers' random-generator states (not among `get_weights()`)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def save_resume_state(path: Path, model, state: dict) -> None:
    """last.ckpt as torch tensors (so the stage's resume check and `weights_only` loading work
    as for Lightning's): weights, optimizer variables, dropout generators, best weights,
    position and curves."""
    blob = {
        "weights": [torch.from_numpy(np.array(w)) for w in model.get_weights()],
        "optimizer": [torch.from_numpy(np.array(v.numpy())) for v in model.optimizer.variables],
        "dropout_rng": [torch.from_numpy(np.array(v.numpy())) for v in dropout_states(model)],
        "best_weights": [torch.from_numpy(np.array(w)) for w in state["best_weights"] or []],
        "best": state["best"], "bad_epochs": state["bad_epochs"], "epoch": state["epoch"],
        "batches_done": state["batches_done"], "curves": json.dumps(state["curves"]),
    }  # fmt: skip
    save_checkpoint_file(blob, path)


def restore(path: Path, model, state: dict) -> None:
    """Load last.ckpt into a built, compiled `model` and the training `state` (position:
    epoch and batches done in it, best weights and score, curves)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model.set_weights([t.numpy() for t in blob["weights"]])
    model.optimizer.build(model.trainable_variables)
    for variable, value in zip(model.optimizer.variables, blob["optimizer"], strict=True):
        variable.assign(value.numpy())
    for variable, value in zip(dropout_states(model), blob["dropout_rng"], strict=True):
        variable.assign(value.numpy())  # the same dropout masks as an uninterrupted run
    state.update(best=blob["best"], bad_epochs=blob["bad_epochs"], curves=json.loads(blob["curves"]),
                 best_weights=[t.numpy() for t in blob["best_weights"]] or None,
                 epoch=int(blob["epoch"]), batches_done=int(blob["batches_done"]))  # fmt: skip
