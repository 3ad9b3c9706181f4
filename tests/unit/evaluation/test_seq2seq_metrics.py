from __future__ import annotations

from transformer_mlops.evaluation.seq2seq import metrics_from


def _scored(prediction: str) -> dict:
    return {"prediction": prediction, "loss": 1.0, "correct_tokens": 1, "tokens": 2}


def test_longest_pairs_are_scored_apart_from_the_random_test_pairs():
    records = [{"id": "a", "source": "s", "target": "le petit chat dort bien"},
               {"id": "b", "source": "s s s", "target": "le chien mange la soupe", "format": "longest"}]  # fmt: skip
    scored = [_scored("le petit chat dort bien"), _scored("le chat")]
    headline, detail = metrics_from(records, scored)
    assert headline["test/exact_match"] == 100.0 and headline["test/examples"] == 1
    assert headline["test/exact_match_longest"] == 0.0 and headline["test/examples_longest"] == 1
    assert headline["test/bleu"] == 100.0 and headline["test/bleu_longest"] < 100.0
    assert detail["test/exact_match_by_format"]["longest"]["examples"] == 1
    plain, _ = metrics_from(records[:1], scored[:1])  # no held-out part: the plain keys only
    assert not any(key.endswith("_longest") for key in plain)
