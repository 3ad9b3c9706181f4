"""A BERT encoder with an extractive-QA span head in Keras 3 (TensorFlow backend): the model of
`qa.framework: tensorflow`, loaded from Hugging Face BERT weights and written back to them.

Written out here because keras-hub's BERT approximates GELU with tanh (4e-3 away from the exact
erf GELU of HF BERT/MiniLM), has no QA task, and needs tensorflow-text (the full `tensorflow`
wheel). Layers follow HF's `BertModel` in order and naming, so the weight map is one to one:
`hf_weight_map` pairs every Keras variable with its safetensors tensor, and a load or save that
would leave one out stops instead of training on half-initialised weights.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no CPU-feature and oneDNN banners

# Imported after the backend is chosen above.
import keras
from keras import layers, ops

from transformer_mlops.errors import ConfigError

# Tensors of a pretrained BERT checkpoint that an extractive-QA model has no use for.
UNUSED = re.compile(r"^(pooler\.|cls\.|embeddings\.position_ids$)")


def model_arrays(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """The model's inputs of a collated batch of torch tensors (`features/qa.py: collate`), as
    numpy arrays; zero token types for models without."""
    inputs = {k: batch[k].numpy() for k in ("input_ids", "attention_mask")}
    types = batch.get("token_type_ids")
    inputs["token_type_ids"] = (
        types.numpy() if types is not None else np.zeros_like(inputs["input_ids"])
    )
    return inputs


def gelu(x):
    """Exact GELU, written with erf: TF's own exact GELU emits `Erfc`, which tf2onnx cannot
    convert (onnx/tensorflow-onnx#2347); this form exports and matches HF to float rounding."""
    return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))


class Embeddings(layers.Layer):
    """Word + position + token-type embeddings, layer norm, dropout (HF `BertEmbeddings`)."""

    def __init__(self, config: dict[str, Any], dropout: float, **kwargs):
        super().__init__(**kwargs)
        hidden = config["hidden_size"]
        self.word = layers.Embedding(config["vocab_size"], hidden, name="word_embeddings")
        self.position = layers.Embedding(config["max_position_embeddings"], hidden,
                                         name="position_embeddings")  # fmt: skip
        self.token_type = layers.Embedding(config["type_vocab_size"], hidden,
                                           name="token_type_embeddings")  # fmt: skip
        self.norm = layers.LayerNormalization(epsilon=config["layer_norm_eps"], name="LayerNorm")
        self.dropout = layers.Dropout(dropout)

    def call(self, input_ids, token_type_ids, training=False):
        positions = ops.arange(ops.shape(input_ids)[1])
        x = self.word(input_ids) + self.position(positions)[None] + self.token_type(token_type_ids)
        return self.dropout(self.norm(x), training=training)


class EncoderLayer(layers.Layer):
    """Multi-head self-attention and a GELU feed-forward block, each with a residual and a
    post-layer-norm (HF `BertLayer`)."""

    def __init__(self, config: dict[str, Any], dropout: float, attention_dropout: float, **kwargs):
        super().__init__(**kwargs)
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.heads = config["num_attention_heads"]
        self.head_size = hidden // self.heads
        self.query = layers.Dense(hidden, name="query")
        self.key = layers.Dense(hidden, name="key")
        self.value = layers.Dense(hidden, name="value")
        self.attention_output = layers.Dense(hidden, name="attention_output")
        self.attention_norm = layers.LayerNormalization(epsilon=eps, name="attention_norm")
        self.intermediate = layers.Dense(config["intermediate_size"], name="intermediate")
        self.output_dense = layers.Dense(hidden, name="output")
        self.output_norm = layers.LayerNormalization(epsilon=eps, name="output_norm")
        self.attention_dropout = layers.Dropout(attention_dropout)
        self.dropout = layers.Dropout(dropout)

    def call(self, x, mask_bias, training=False):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]

        def split_heads(t):  # (B, L, H) -> (B, heads, L, head_size)
            return ops.transpose(ops.reshape(t, (batch, length, self.heads, self.head_size)),
                                 (0, 2, 1, 3))  # fmt: skip

        q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.head_size)
        probs = self.attention_dropout(ops.softmax(scores + mask_bias, axis=-1), training=training)
        context = ops.reshape(ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3)),
                              (batch, length, self.heads * self.head_size))  # fmt: skip
        x = self.attention_norm(x + self.dropout(self.attention_output(context), training=training))
        y = self.output_dense(gelu(self.intermediate(x)))
        return self.output_norm(x + self.dropout(y, training=training))


class BertForQa(keras.Model):
    """BERT + a linear start/end head. Inputs: a dict of `input_ids`, `attention_mask` and
    `token_type_ids` (B, L); outputs: `start_logits`, `end_logits` (B, L) in float32, and with
    `evidence_layer` set also `evidence_logits` from a training-only head on that layer's
    hidden states (the same auxiliary loss as the PyTorch module; never saved to HF)."""

    def __init__(self, config: dict[str, Any], dropout: float | None = None,
                 evidence_layer: int | None = None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.config = dict(config)
        hidden_dropout = config["hidden_dropout_prob"] if dropout is None else dropout
        attention_dropout = config["attention_probs_dropout_prob"] if dropout is None else dropout
        self.embeddings = Embeddings(config, hidden_dropout, name="embeddings")
        self.encoder_layers = [
            EncoderLayer(config, hidden_dropout, attention_dropout, name=f"layer_{i}")
            for i in range(config["num_hidden_layers"])
        ]
        init = keras.initializers.RandomNormal(stddev=config.get("initializer_range", 0.02))
        self.qa_outputs = layers.Dense(2, kernel_initializer=init, name="qa_outputs")
        self.evidence_layer = evidence_layer
        self.evidence_head = (
            layers.Dense(1, kernel_initializer=init, name="evidence_head")
            if evidence_layer is not None
            else None
        )

    def call(self, inputs, training=False):
        input_ids = inputs["input_ids"]
        token_types = inputs.get("token_type_ids")
        if token_types is None:
            token_types = ops.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_types, training=training)
        # padding keys get a large negative score before the softmax (HF's extended mask)
        mask = ops.cast(inputs["attention_mask"], x.dtype)[:, None, None, :]
        mask_bias = (1.0 - mask) * ops.cast(-1e9, x.dtype)
        hidden = [x]
        for layer in self.encoder_layers:
            x = layer(x, mask_bias, training=training)
            hidden.append(x)
        logits = ops.cast(self.qa_outputs(x), "float32")
        out = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
        if self.evidence_head is not None:
            evidence = self.evidence_head(hidden[self.evidence_layer])
            out["evidence_logits"] = ops.cast(evidence, "float32")[..., 0]
        return out

    def build_for(self, length: int = 8) -> None:
        """Create every variable by calling the model once on a dummy batch."""
        dummy = np.zeros((1, length), dtype="int32")
        self({"input_ids": dummy, "attention_mask": dummy + 1, "token_type_ids": dummy})

    def frozen(self, word_embeddings: bool, bottom_layers: int) -> None:
        """Stop training the word embeddings, or the embeddings and the bottom encoder layers
        (the PyTorch path's `freeze_word_embeddings` and `freeze_layers`)."""
        if word_embeddings:
            self.embeddings.word.trainable = False
        if bottom_layers:
            if bottom_layers > len(self.encoder_layers):
                raise ConfigError(f"qa.train.freeze_layers = {bottom_layers}: the model has only "
                                  f"{len(self.encoder_layers)} encoder layers")  # fmt: skip
            self.embeddings.trainable = False
            for layer in self.encoder_layers[:bottom_layers]:
                layer.trainable = False


# ------------------------------------------------------------------ Hugging Face weights


def _dense(prefix: str, layer: layers.Dense) -> list[tuple[Any, str, bool]]:
    # torch's Linear keeps (out, in), Keras' Dense (in, out): kernels are transposed
    return [(layer.kernel, f"{prefix}.weight", True), (layer.bias, f"{prefix}.bias", False)]


def _norm(prefix: str, layer: layers.LayerNormalization) -> list[tuple[Any, str, bool]]:
    return [(layer.gamma, f"{prefix}.weight", False), (layer.beta, f"{prefix}.bias", False)]


def hf_weight_map(model: BertForQa) -> list[tuple[Any, str, bool]]:
    """(Keras variable, HF `BertForQuestionAnswering` tensor name, transposed) for every
    variable of the saved model (the evidence head is training-only and not in it)."""
    e = model.embeddings
    pairs = [
        (e.word.embeddings, "bert.embeddings.word_embeddings.weight", False),
        (e.position.embeddings, "bert.embeddings.position_embeddings.weight", False),
        (e.token_type.embeddings, "bert.embeddings.token_type_embeddings.weight", False),
        *_norm("bert.embeddings.LayerNorm", e.norm),
    ]
    for i, layer in enumerate(model.encoder_layers):
        p = f"bert.encoder.layer.{i}"
        pairs += [
            *_dense(f"{p}.attention.self.query", layer.query),
            *_dense(f"{p}.attention.self.key", layer.key),
            *_dense(f"{p}.attention.self.value", layer.value),
            *_dense(f"{p}.attention.output.dense", layer.attention_output),
            *_norm(f"{p}.attention.output.LayerNorm", layer.attention_norm),
            *_dense(f"{p}.intermediate.dense", layer.intermediate),
            *_dense(f"{p}.output.dense", layer.output_dense),
            *_norm(f"{p}.output.LayerNorm", layer.output_norm),
        ]
    return [*pairs, *_dense("qa_outputs", model.qa_outputs)]


def load_hf_weights(model: BertForQa, weights: dict[str, np.ndarray], source: str) -> list[str]:
    """Copy HF BERT tensors (with or without the `bert.` prefix) into a built `model`. Every
    encoder variable must find a tensor of its shape, and every tensor must be used or be one
    a QA model does not need (pooler, MLM head); a QA head is taken when present, else kept
    as initialised. Returns the names of variables that stayed initialised (the new head)."""
    tensors, original = {}, {}  # by HF QA name; the file's own name, for messages
    for name, value in weights.items():
        bare = name.removeprefix("bert.")
        if UNUSED.match(bare):
            continue
        key = name if name.startswith("qa_outputs.") else f"bert.{bare}"
        tensors[key], original[key] = value, name
    fresh = []
    for variable, name, transposed in hf_weight_map(model):
        if name not in tensors:
            if name.startswith("qa_outputs."):
                fresh.append(name)
                continue
            raise ConfigError(f"qa.model: {source} has no tensor {name.removeprefix('bert.')!r}; "
                              "expected a BERT checkpoint (model_type bert)")  # fmt: skip
        value = tensors.pop(name)
        value = value.T if transposed else value
        if tuple(value.shape) != tuple(variable.shape):
            raise ConfigError(f"qa.model: {source} tensor {original[name]!r} has shape {tuple(value.shape)}, "
                              f"the Keras model expects {tuple(variable.shape)}")  # fmt: skip
        variable.assign(value.astype(variable.dtype))
    if tensors:
        raise ConfigError(f"qa.model: {source} has tensors the Keras BERT does not use: "
                          f"{', '.join(sorted(original[k] for k in tensors)[:5])}; expected a BERT "
                          "checkpoint")  # fmt: skip
    return fresh


def hf_state_dict(model: BertForQa) -> dict[str, np.ndarray]:
    """The model's weights under HF `BertForQuestionAnswering` names and layouts (float32)."""
    return {
        name: np.ascontiguousarray(
            (variable.numpy().T if transposed else variable.numpy()).astype(np.float32)
        )
        for variable, name, transposed in hf_weight_map(model)
    }


def read_safetensors(folder: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a model folder's safetensors files, as numpy arrays."""
    from safetensors.numpy import load_file

    weights: dict[str, np.ndarray] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        weights.update(load_file(str(file)))
    return weights


def check_bert(config: dict[str, Any], source: str) -> None:
    """Only BERT-architecture encoders have a Keras twin here (MiniLM is one)."""
    kind = config.get("model_type")
    if kind != "bert" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ConfigError(f"qa.framework = tensorflow: {source} is a {kind!r} model; the Keras path "
                          "builds BERT-architecture encoders (model_type bert, absolute positions, "
                          "e.g. MiniLM, BERT); use qa.framework = pytorch for others")  # fmt: skip
    if config.get("hidden_act", "gelu") != "gelu":
        raise ConfigError(f"qa.framework = tensorflow: {source} uses activation "
                          f"{config.get('hidden_act')!r}; the Keras BERT implements exact gelu")  # fmt: skip
