"""QA fine-tuning on a tiny synthetic sample: real Lightning, real MiniLM, a few steps."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import tiny_params, write_synthetic
from transformer_mlops.config import QaInference, parse_params
from transformer_mlops.errors import ConfigError
from transformer_mlops.tasks.qa import train


@pytest.fixture(scope="module")
def qa_cfg(default_params_raw):
    raw = tiny_params(default_params_raw)
    raw["qa"].update(max_length=128, doc_stride=32)
    raw["qa"]["train"] = {"batch_size": 16, "eval_batch_size": 32, "freeze_word_embeddings": True,
                          "freeze_layers": 1, "evidence": {"weight": 1.0, "layer": -2},
                          "optimizer": {"lr": 1e-4, "warmup_steps": 2, "schedule": "linear"},
                          "trainer": {"max_epochs": 1, "precision": "32-true", "log_every_n_steps": 2}}  # fmt: skip
    return parse_params(raw).qa


@pytest.fixture(scope="module")
def trained(tmp_path_factory, qa_cfg):
    root = tmp_path_factory.mktemp("qa")
    write_synthetic("qa", root / "prepared", train=64, validation=24, test=16)
    summary = train(
        qa_cfg, root / "prepared", root / "model", root / "ckpt", enable_progress_bar=False
    )
    return root, summary


def test_training_runs_and_reports(trained):
    _, summary = trained
    assert summary["windows"]["train"] >= 64
    assert summary["global_step"] == -(-summary["windows"]["train"] // 16)
    assert 0.0 <= summary["best_val_f1"] <= 100.0
    assert summary["train_tokens_per_second"] > 0


def test_saved_model_is_a_standard_hugging_face_qa_model(trained):
    # transformers 5 removed the "question-answering" pipeline; the saved folder is what it
    # (and transformers 4.x) loads: an AutoModelForQuestionAnswering in safetensors + tokenizer.
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    root, _ = trained
    assert (root / "model" / "model.safetensors").is_file()
    config = json.loads((root / "model" / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    from safetensors.torch import load_file  # the training-only evidence head is not saved

    assert not [k for k in load_file(root / "model" / "model.safetensors") if "evidence" in k]
    model = AutoModelForQuestionAnswering.from_pretrained(str(root / "model")).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(root / "model"))
    inputs = tokenizer("Where is John?", "Mary went to the kitchen.", return_tensors="pt")
    out = model(**inputs)
    assert out.start_logits.shape == out.end_logits.shape == inputs["input_ids"].shape


def test_frozen_embeddings_and_bottom_layer_stay_pretrained_while_the_rest_learns(trained, qa_cfg):
    from safetensors.torch import load_file

    from transformer_mlops.tasks.pretrained import resolve_pretrained

    root, _ = trained
    tuned = load_file(root / "model" / "model.safetensors")
    pretrained = load_file(f"{resolve_pretrained(qa_cfg.model)}/model.safetensors")

    def weight(weights, suffix):
        (value,) = [v for k, v in weights.items() if k.endswith(suffix)]
        return value

    for frozen in ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                   "encoder.layer.0.attention.self.query.weight"):  # fmt: skip
        assert torch.equal(weight(tuned, frozen), weight(pretrained, frozen)), frozen
    query = "encoder.layer.1.attention.self.query.weight"
    assert not torch.equal(weight(tuned, query), weight(pretrained, query))


def test_answers_come_from_the_original_context_even_over_many_windows(trained, qa_cfg):
    from transformer_mlops.inference.qa import answer, load_qa_model

    root, _ = trained
    model, tokenizer = load_qa_model(root / "model")
    context = " ".join(f"Person{i} Smith travelled to the Harbour of Town{i}." for i in range(40))
    assert len(tokenizer(context)["input_ids"]) > 3 * qa_cfg.max_length
    (result,) = answer(model, tokenizer, ["Where did Person7 Smith travel?"], [context],
                       QaInference.of(qa_cfg))  # fmt: skip
    assert result["answer"] and context[result["start"] : result["end"]] == result["answer"]


def test_evaluate_writes_metrics_errors_and_plots(trained, qa_cfg, tmp_path):
    from transformer_mlops.evaluation.qa import evaluate
    from transformer_mlops.inference.qa import load_qa_model

    root, _ = trained
    model, tokenizer = load_qa_model(root / "model")
    metrics = evaluate(model, tokenizer, root / "prepared", qa_cfg, tmp_path / "m.json", tmp_path / "d.json",
                       tmp_path / "e.json", tmp_path / "t.json", tmp_path / "p.png")  # fmt: skip
    assert metrics["test/examples"] == 16
    assert set(json.loads((tmp_path / "m.json").read_text())) == {
        "test/exact_match", "test/f1", "test/examples"}  # fmt: skip
    assert 0.0 <= metrics["test/exact_match"] <= metrics["test/f1"] <= 100.0
    per_kind = metrics["test/per_kind"]
    assert set(per_kind) <= {"single-supporting-fact", "two-supporting-facts", "encyclopedic"}
    assert sum(k["questions"] for k in per_kind.values()) == 16
    table = json.loads((tmp_path / "t.json").read_text())  # only buckets with enough questions
    assert all(row["questions"] >= 10 for row in table) and sum(r["questions"] for r in table) <= 16
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    errors = json.loads((tmp_path / "e.json").read_text())
    assert all(e["f1"] < 1.0 or e["predicted"] != e["gold"][0] for e in errors)


def test_behaviour_checks_report_pass_rates(trained):
    from transformer_mlops.evaluation.behaviour_qa import run_checks
    from transformer_mlops.inference.qa import load_qa_model

    root, _ = trained
    model, tokenizer = load_qa_model(root / "model")
    report = run_checks(model, tokenizer, QaInference(max_length=128, doc_stride=32))
    assert [c["check"].split(":")[0] for c in report["checks"]] == [
        "minimum_functionality", "encyclopedic", "long context", "invariance", "invariance",
        "equivariance"]  # fmt: skip
    for check in report["checks"]:
        assert check["cases"] >= 6 and 0.0 <= check["pass_rate"] <= 1.0
        assert len(check["failures"]) == min(10, round((1 - check["pass_rate"]) * check["cases"]))


def test_the_length_buckets_and_metrics_by_hand():
    from transformer_mlops.evaluation.qa import length_bucket, qa_metrics, scored

    assert [length_bucket(n) for n in (1, 50, 51, 600, 601)] == [
        "1-50", "1-50", "51-100", "401-600", ">600"]  # fmt: skip
    records = [
        {"kind": "a", "answers": {"text": ["the red house"]}},
        {"kind": "b", "answers": {"text": ["blue", "navy"]}},
    ]
    rows = scored(records, [{"answer": "Red house", "start": 0, "end": 9, "score": 0.9},
                            {"answer": "dark navy", "start": 0, "end": 9, "score": 0.5}])  # fmt: skip
    headline, detail = qa_metrics(records, rows)
    assert headline == {"test/exact_match": 50.0, "test/f1": 83.33, "test/examples": 2}
    assert detail["test/per_kind"]["b"] == {"exact_match": 0.0, "f1": 66.67, "questions": 1}


def test_evidence_loss_is_bce_on_the_labelled_tokens_of_the_chosen_layer(qa_cfg):
    from transformers import AutoModelForQuestionAnswering

    from transformer_mlops.features.batching import model_inputs
    from transformer_mlops.features.qa import collate, encode
    from transformer_mlops.tasks.pretrained import load_for_finetuning
    from transformer_mlops.tasks.qa import QaModule

    tokenizer, model = load_for_finetuning(
        AutoModelForQuestionAnswering, qa_cfg.model, qa_cfg.train, "qa"
    )
    module = QaModule(model, qa_cfg)
    context = "Mary went to the kitchen. John got the milk. John moved to the garden."
    features = encode(tokenizer, ["Where is the milk?", "Where is Mary?"], [context] * 2, None, 64, 16,
                      evidence=[[[26, 44], [45, 70]], None])  # fmt: skip
    batch = collate(features, tokenizer.pad_token_id)
    hidden = model(**model_inputs(batch), output_hidden_states=True).hidden_states
    loss = module._evidence_loss(hidden, batch["evidence_labels"])
    labels = batch["evidence_labels"][0, : len(features[0].input_ids)]
    known = labels != -100
    logits = module.evidence_head(hidden[-2][0, : len(labels)]).squeeze(-1)
    by_hand = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[known], labels[known].float()
    )
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    loss.backward()
    assert module.evidence_head.weight.grad.abs().sum() > 0
    # a batch without evidence: zero loss, yet the head stays in the graph (DDP needs that)
    module.zero_grad()
    empty = module._evidence_loss(hidden, None)
    assert empty.item() == 0.0 and empty.requires_grad
    # a layer the model does not have is refused, naming the parameter
    raw = qa_cfg.model_dump()
    raw["train"]["evidence"] = {"weight": 1.0, "layer": 9}
    with pytest.raises(ConfigError, match=r"qa.train.evidence.layer = 9: .* has 6 layers"):
        QaModule(model, type(qa_cfg).model_validate(raw))
    # ... and so is a layer that does not learn (the fixture freezes the bottom layer)
    raw["train"]["evidence"] = {"weight": 1.0, "layer": 1}
    with pytest.raises(ConfigError, match=r"evidence.layer = 1 reads a frozen layer"):
        QaModule(model, type(qa_cfg).model_validate(raw))
