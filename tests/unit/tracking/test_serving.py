"""The served pyfunc models read their inference settings from the registered model_config,
including versions registered before the settings objects existed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from transformer_mlops.config import NerInference, QaInference, ScratchInference
from transformer_mlops.tracking.serving import NerSpansModel, QaAnswerModel, ScratchTextModel


@pytest.fixture(autouse=True)
def no_weights(monkeypatch):
    """load_context's model loading is not what these tests are about."""
    for module, name in [("scratch", "load_scratch_model"), ("ner", "load_ner_model"),
                         ("qa", "load_qa_model")]:  # fmt: skip
        monkeypatch.setattr(f"transformer_mlops.inference.{module}.{name}", lambda _: (None, None))


def loaded(model, config: dict | None):
    model.load_context(SimpleNamespace(artifacts={"model": "unused"}, model_config=config))
    return model.settings


def test_settings_come_from_the_model_config_with_defaults_for_missing_keys():
    assert loaded(ScratchTextModel(), {"beam_size": 3}) == ScratchInference(beam_size=3)
    assert loaded(NerSpansModel(), None) == NerInference()
    qa = {"max_length": 256, "doc_stride": 64, "n_best": 10, "max_answer_length": 20}
    assert loaded(QaAnswerModel(), qa) == QaInference(**qa)


def test_a_scratch_model_registered_with_the_old_max_tokens_key_still_loads():
    assert loaded(ScratchTextModel(), {"max_tokens": 12}).max_decode_tokens == 12
