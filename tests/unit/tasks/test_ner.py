"""NER fine-tuning on a tiny synthetic sample: real Lightning, real MiniLM, a few steps."""

from __future__ import annotations

import json

import pytest
from transformers import pipeline

from tests.conftest import tiny_params, write_synthetic
from transformer_mlops.config import NerInference, parse_params
from transformer_mlops.tasks.ner import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, default_params_raw):
    root = tmp_path_factory.mktemp("ner")
    write_synthetic("ner", root / "prepared", train=96, validation=32, test=16)
    raw = tiny_params(default_params_raw)
    raw["ner"]["train"] = {"batch_size": 16, "eval_batch_size": 32,
                           "optimizer": {"lr": 1e-4, "warmup_steps": 2, "schedule": "linear"},
                           "trainer": {"max_epochs": 1, "precision": "32-true", "log_every_n_steps": 2}}  # fmt: skip
    cfg = parse_params(raw).ner
    summary = train(
        cfg, root / "prepared", root / "model", root / "ckpt", enable_progress_bar=False
    )
    return root, summary


def test_training_runs_and_reports(trained):
    _, summary = trained
    assert summary["global_step"] == 6  # 96 sentences / 16
    assert 0.0 <= summary["best_val_f1"] <= 100.0
    assert summary["train_tokens_per_second"] > 0


def test_saved_model_loads_in_a_transformers_pipeline_with_offsets(trained):
    root, _ = trained
    config = json.loads((root / "model" / "config.json").read_text())
    assert config["id2label"]["1"] == "B-PER" and config["label2id"]["O"] == 0
    assert (root / "model" / "model.safetensors").is_file()
    tagger = pipeline("token-classification", model=str(root / "model"), ignore_labels=[])
    text = "Angela Merkel met Tim Cook in Paris."
    tokens = tagger(text)
    assert len(tokens) >= 8 and {t["entity"] for t in tokens} <= set(config["label2id"])
    for token in tokens:  # offsets point into the original (cased) text
        assert text[token["start"] : token["end"]].lower() == token["word"].removeprefix("##")


def test_evaluate_and_predict_spans(trained, tmp_path):
    from transformer_mlops.evaluation.ner import evaluate
    from transformer_mlops.inference.ner import load_ner_model, predict_spans

    root, _ = trained
    model, tokenizer = load_ner_model(root / "model")
    metrics = evaluate(model, tokenizer, root / "prepared", NerInference(), 10, tmp_path / "m.json",
                       tmp_path / "d.json", tmp_path / "e.json", tmp_path / "c.png")  # fmt: skip
    assert metrics["test/examples"] == 16
    headline = json.loads((tmp_path / "m.json").read_text())  # what `dvc metrics show` shows
    assert set(headline) == {"test/f1", "test/precision", "test/recall", "test/examples"}
    assert set(json.loads((tmp_path / "d.json").read_text())) == {
        "test/macro_f1", "test/macro_precision", "test/macro_recall", "test/per_type"}  # fmt: skip
    assert all(0.0 <= headline[k] <= 100.0 for k in headline if k != "test/examples")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    text = "Angela Merkel met Tim Cook in Paris."
    (found,) = predict_spans(model, tokenizer, [text])
    for entity in found:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["type"] in {"PER", "ORG", "LOC", "MISC"} and 0 <= entity["score"] <= 1


def test_words_without_subwords_keep_one_label_each(trained):
    from transformer_mlops.inference.ner import load_ner_model, tag_words

    root, _ = trained
    model, tokenizer = load_ner_model(root / "model")
    words = ["Paris", "\ufe0f", "is", "nice"]  # a lone variation selector: no subword at all
    assert (
        tokenizer(words, is_split_into_words=True, add_special_tokens=False).word_ids().count(1)
        == 0
    )
    ((labels, scores),) = tag_words(model, tokenizer, [words])
    assert len(labels) == len(scores) == 4 and labels[1] == "O"


def test_entity_metrics_hand_computed():
    from transformer_mlops.evaluation.ner import entity_metrics, type_confusion

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    headline, detail = entity_metrics(gold, pred)
    assert headline["test/precision"] == headline["test/recall"] == 66.67  # percent
    assert detail["test/per_type"]["LOC"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    records = [{"tags": g} for g in gold]
    types, matrix = type_confusion(records, pred)
    assert types == ["LOC", "ORG", "PER", "O"]
    assert matrix[types.index("LOC")][types.index("ORG")] == 1


def test_behaviour_checks_report_pass_rates(trained):
    from transformer_mlops.evaluation.behaviour_ner import run_checks
    from transformer_mlops.inference.ner import load_ner_model

    root, _ = trained
    model, tokenizer = load_ner_model(root / "model")
    report = run_checks(model, tokenizer)
    assert [c["check"].split(":")[0] for c in report["checks"]] == [
        "minimum_functionality", "invariance", "robustness", "robustness"]  # fmt: skip
    for check in report["checks"]:
        assert check["cases"] >= 6 and 0.0 <= check["pass_rate"] <= 1.0
        assert len(check["failures"]) == min(10, round((1 - check["pass_rate"]) * check["cases"]))
    assert 0.0 <= report["overall_pass_rate"] <= 1.0


@pytest.fixture(scope="module")
def trained_with_case(tmp_path_factory, default_params_raw):
    root = tmp_path_factory.mktemp("ner_case")
    write_synthetic("ner", root / "prepared", train=32, validation=16, test=8)
    raw = tiny_params(default_params_raw)
    raw["ner"]["word_case"] = True
    raw["ner"]["train"] = {"batch_size": 16, "eval_batch_size": 32,
                           "optimizer": {"lr": 1e-3, "warmup_steps": 0, "schedule": "linear"},
                           "trainer": {"max_epochs": 1, "precision": "32-true"}}  # fmt: skip
    train(parse_params(raw).ner, root / "prepared", root / "model", root / "ckpt",
          enable_progress_bar=False)  # fmt: skip
    return root / "model"


def test_word_case_trains_type_embeddings_that_inference_reads(trained_with_case, tmp_path):
    from safetensors.torch import load_file

    from transformer_mlops.features.ner import WORD_CASE_KEY, WORD_CASES
    from transformer_mlops.inference.ner import load_ner_model, tag_words

    config = json.loads((trained_with_case / "config.json").read_text())
    assert config[WORD_CASE_KEY] is True and config["type_vocab_size"] == len(WORD_CASES)
    (types,) = [t for n, t in load_file(trained_with_case / "model.safetensors").items()
                if n.endswith("token_type_embeddings.weight")]  # fmt: skip
    assert types.shape[0] == len(WORD_CASES) and not types[1].equal(types[0])  # Title learned
    model, tokenizer = load_ner_model(trained_with_case)
    sentences = [["paris", "is", "nice"], ["PARIS", "is", "nice"], ["Paris", "is", "nice"]]
    scores = [s for _, s in tag_words(model, tokenizer, sentences)]
    assert scores[0] != scores[1] != scores[2]  # the same subwords; only the casing differs
    # `transformers.pipeline` still loads it (its inputs carry type 0: casing unseen there).
    tagger = pipeline("token-classification", model=str(trained_with_case), ignore_labels=[])
    assert len(tagger("Paris is nice")) == 3


def test_word_case_survives_the_onnx_export(trained_with_case, tmp_path):
    pytest.importorskip("onnxruntime")
    from transformer_mlops.inference.ner import load_ner_model, tag_words
    from transformer_mlops.inference.onnx import export_onnx, load_onnx_model

    export_onnx("ner", trained_with_case, tmp_path / "onnx")
    sentences = [["Angela", "Merkel", "met", "NATO", "in", "paris"]]
    ((want_labels, want_scores),) = tag_words(*load_ner_model(trained_with_case), sentences)
    ((labels, scores),) = tag_words(*load_onnx_model(tmp_path / "onnx", "ner"), sentences)
    assert labels == want_labels and scores == pytest.approx(want_scores, abs=1e-4)
