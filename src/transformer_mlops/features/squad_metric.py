"""The official SQuAD v1.1 metric (exact match and token F1), written out because
`evaluate.load("squad")` needs the hub. Same normalisation as the official script: lowercase,
drop punctuation, drop the articles a/an/the, collapse whitespace; each prediction takes the
best score over its gold answers; corpus scores are means, in percent."""

from __future__ import annotations

import re
import string
from collections import Counter

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, strip punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall over the normalised bags of tokens."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(metric, prediction: str, golds: list[str]) -> float:
    """The official rule: a prediction is scored against its closest gold answer."""
    return max(metric(prediction, gold) for gold in golds)


def squad_scores(predictions: list[str], golds: list[list[str]]) -> dict[str, float]:
    """Corpus exact match and F1 in percent (0-100), as the official script reports them."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0}
    em = sum(best_over_golds(exact_match, p, g) for p, g in zip(predictions, golds, strict=True))
    f1 = sum(best_over_golds(token_f1, p, g) for p, g in zip(predictions, golds, strict=True))
    return {"exact_match": 100.0 * em / len(predictions), "f1": 100.0 * f1 / len(predictions)}
