"""The SQuAD v1.1 metric against cases computed by hand (the official script's rules)."""

from __future__ import annotations

import pytest

from transformer_mlops.features.squad_metric import (
    exact_match,
    normalize_answer,
    squad_scores,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an   apple,  a pear!  ", "apple pear"),
        ("Theatre", "theatre"),  # 'the' only as a whole word
        ("U.S.A.", "usa"),
        ("A", ""),
    ],
)
def test_normalisation(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_ignores_case_articles_and_punctuation():
    assert exact_match("the Denver Broncos!", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0


def test_token_f1_by_hand():
    # prediction "denver broncos won" vs gold "broncos": common 1, P=1/3, R=1 -> F1 = 0.5
    assert token_f1("Denver Broncos won", "the Broncos") == pytest.approx(0.5)
    # repeated tokens count as a bag: pred "a b b" -> "b b"; gold "b c" -> common 1, P=.5, R=.5
    assert token_f1("a b b", "b c") == pytest.approx(0.5)
    assert token_f1("", "Broncos") == 0.0
    assert token_f1("the", "a") == 0.0  # both normalise to nothing


def test_corpus_scores_take_the_best_gold_and_average_in_percent():
    predictions = ["Denver Broncos", "Carolina", "1995"]
    golds = [["Broncos", "Denver Broncos"], ["Carolina Panthers"], ["1996"]]
    # EM: 1, 0, 0 -> 33.33; F1: 1, 2*(1*.5)/1.5 = 0.6667, 0 -> 55.56
    scores = squad_scores(predictions, golds)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 predictions for 1 questions"):
        squad_scores(["a", "b"], [["a"]])
