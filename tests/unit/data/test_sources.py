from __future__ import annotations

import copy

import pytest

from transformer_mlops.config import parse_params
from transformer_mlops.data.sources import load_task
from transformer_mlops.errors import ConfigError, DataError


def _data_cfg(raw: dict, task: str, **changes):
    raw = copy.deepcopy(raw)
    data = raw[task]["data"]
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    return parse_params(raw).task(task).data


def _conll(path, sentences_per_doc: int, docs: int):
    lines = []
    for d in range(docs):
        lines += ["-DOCSTART- O", ""]
        for s in range(sentences_per_doc):
            lines += [f"Doc{d}word{s} B-PER", "said O", ""]
    path.write_text("\n".join(lines))


def test_missing_splits_are_carved_by_group_deterministically(tmp_path, default_params_raw):
    _conll(tmp_path / "train.txt", sentences_per_doc=5, docs=60)
    cfg = _data_cfg(default_params_raw, "ner", source="files", files__train=str(tmp_path / "train.txt"),
                    files__test=None, carve={"validation": 0.2, "test": 0.2})  # fmt: skip
    splits, stats = load_task("ner", cfg)
    again, _ = load_task("ner", cfg)
    assert splits == again and stats["carved"] == ["validation", "test"]
    assert sum(len(v) for v in splits.values()) == 300
    docs = {split: {r["tokens"][0][:5] for r in rows} for split, rows in splits.items()}
    assert not docs["train"] & docs["test"] and not docs["train"] & docs["validation"]
    assert 30 <= len(splits["test"]) <= 100  # about 20% of 300, whole documents at a time


def test_limit_and_overlap_drop(tmp_path, default_params_raw):
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    _conll(train, sentences_per_doc=10, docs=3)
    test.write_text("Doc0word1 B-PER\nsaid O\n\nNew B-LOC\nsaid O\n")  # first sentence is in train
    cfg = _data_cfg(default_params_raw, "ner", source="files", files__train=str(train),
                    files__validation=str(test), files__test=str(test), limit={"train": 7})  # fmt: skip
    splits, stats = load_task("ner", cfg)
    assert len(splits["train"]) == 7
    # the capped train no longer need contain Doc0word1; the drop is counted either way
    assert stats["dropped_overlap"]["test"] + len(splits["test"]) == 2


def test_files_source_errors(tmp_path, default_params_raw):
    cfg = _data_cfg(
        default_params_raw, "ner", source="files", files__train=str(tmp_path / "nope.txt")
    )
    with pytest.raises(DataError, match=r"ner\.data\.files\.train: no data file at .*nope\.txt"):
        load_task("ner", cfg)
    cfg = _data_cfg(default_params_raw, "ner", source="files", files__train=None)
    with pytest.raises(ConfigError, match="a training file is required"):
        load_task("ner", cfg)


def test_hub_source_maps_columns_and_class_labels(tmp_path, default_params_raw):
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features({"id": Value("string"), "tokens": List(Value("string")),
                         "ner_tags": List(ClassLabel(names=["O", "B-PER", "I-PER"]))})  # fmt: skip
    (tmp_path / "data").mkdir()
    for split in ("train", "validation", "test"):
        rows = {"id": [f"{split}1", f"{split}2"], "tokens": [["John", "Smith", split], [split, "hi"]],
                "ner_tags": [[1, 2, 0], [0, 0]]}  # fmt: skip
        Dataset.from_dict(rows, features=features).to_parquet(
            tmp_path / "data" / f"{split}-00000-of-00001.parquet"
        )
    cfg = _data_cfg(default_params_raw, "ner", source="hub", hub__name=str(tmp_path))
    splits, stats = load_task("ner", cfg)
    assert stats["source"] == "hub"
    assert splits["train"][0]["tags"] == ["B-PER", "I-PER", "O"]
    assert splits["test"][1]["tokens"] == ["test", "hi"]


def test_hub_source_reads_squad_shaped_qa(tmp_path, default_params_raw):
    from datasets import Dataset

    (tmp_path / "data").mkdir()
    rows = {"id": ["q1"], "title": ["T"], "context": ["Paris is big."], "question": ["What is big?"],
            "answers": [{"text": ["Paris"], "answer_start": [0]}]}  # fmt: skip
    Dataset.from_dict(rows).to_parquet(tmp_path / "data" / "train-00000-of-00001.parquet")
    cfg = _data_cfg(default_params_raw, "qa", source="hub", hub__name=str(tmp_path), drop_overlap=False,
                    carve={"validation": 0.01, "test": 0.01})  # fmt: skip
    splits, _ = load_task("qa", cfg)
    everything = [r for rows in splits.values() for r in rows]
    assert everything == [{"id": "q1", "kind": "hub", "context": "Paris is big.", "question": "What is big?",
                           "answers": {"text": ["Paris"], "answer_start": [0]}}]  # fmt: skip


def test_hub_source_without_name(default_params_raw):
    with pytest.raises(ConfigError, match=r"qa\.data\.hub\.name"):
        load_task("qa", _data_cfg(default_params_raw, "qa", source="hub"))


# ------------------------------------------------------------- real data beside the project


def test_conll2003_and_wnut17_load_unchanged(shared_datasets, default_params_raw):
    cfg = _data_cfg(default_params_raw, "ner", source="files",
                    files__train=str(shared_datasets / "conll2003/train.txt"),
                    files__test=str(shared_datasets / "conll2003/dev.txt"))  # fmt: skip
    splits, stats = load_task("ner", cfg)
    carved = (
        len(splits["train"]) + len(splits["validation"]) + stats["dropped_overlap"]["validation"]
    )
    assert carved == 14041  # README: 14,041 training sentences (validation carved from them)
    assert len(splits["test"]) + stats["dropped_overlap"]["test"] == 3250
    wnut = _data_cfg(default_params_raw, "ner", source="files", entity_types=None,
                     files__train=str(shared_datasets / "wnut17/wnut17train.conll"),
                     files__test=str(shared_datasets / "wnut17/emerging.dev.conll"), drop_overlap=False)  # fmt: skip
    splits, _ = load_task("ner", wnut)
    assert len(splits["train"]) + len(splits["validation"]) == 3394 and len(splits["test"]) == 1009
    assert any("B-creative-work" in r["tags"] for r in splits["train"])


def test_squad_babi_and_fra_eng_load(shared_datasets, default_params_raw):
    squad = _data_cfg(default_params_raw, "qa", source="files", drop_overlap=False,
                      files__train=str(shared_datasets / "squad_v1.1/dev-v1.1.articles-01-24.json"))  # fmt: skip
    splits, _ = load_task("qa", squad)
    assert sum(len(v) for v in splits.values()) == 5696
    babi = _data_cfg(default_params_raw, "qa", source="files", files__format="babi",
                     files__train=str(shared_datasets / "babi/qa*_train.txt"),
                     files__test=str(shared_datasets / "babi/qa*_test.txt"))  # fmt: skip
    splits, stats = load_task("qa", babi)
    kinds = {r["kind"] for r in splits["test"]}
    assert kinds == {"single-supporting-fact", "two-supporting-facts", "three-supporting-facts"}
    assert (
        len(splits["test"])
        + stats["skipped_not_extractive"]["test"]
        + stats["dropped_overlap"]["test"]
        == 3000
    )
    pairs = _data_cfg(default_params_raw, "seq2seq", source="files", limit={"train": 5000},
                      files__train=str(shared_datasets / "fra_eng/fra-eng.train.txt"))  # fmt: skip
    splits, _ = load_task("seq2seq", pairs)
    assert len(splits["train"]) == 5000 and splits["train"][0]["target"]


def test_longest_pairs_are_held_out_of_training_and_marked(tmp_path, default_params_raw):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "".join(f"{' '.join(['w'] * (1 + i % 20))} {i}\tcible {i}\n" for i in range(400))
    )
    cfg = _data_cfg(default_params_raw, "seq2seq", source="files", files__train=str(pairs),
                    carve={"validation": 0.05, "test": 0.05, "longest": 0.1}, limit={"test": 15})  # fmt: skip
    splits, stats = load_task("seq2seq", cfg)
    assert stats["held_out_longest"] == 40
    longest = [r for r in splits["test"] if r.get("format") == "longest"]
    assert len(longest) == 15  # capped apart from the random part
    assert 0 < len(splits["test"]) - 15 <= 15
    # every held-out pair is longer than any pair left to train on
    assert min(len(r["source"].split()) for r in longest) > max(
        len(r["source"].split()) for r in splits["train"]
    )
    assert load_task("seq2seq", cfg)[0] == splits
    ner = _data_cfg(
        default_params_raw, "ner", carve={"validation": 0.1, "test": 0.1, "longest": 0.1}
    )
    with pytest.raises(ConfigError, match=r"ner\.data\.carve\.longest: only seq2seq"):
        load_task("ner", ner)


def test_a_carved_validation_example_found_in_the_test_file_is_dropped(
    tmp_path, default_params_raw
):
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    _conll(train, sentences_per_doc=4, docs=50)
    repeated = "".join(f"Doc{d}word0 B-PER\nsaid O\n\n" for d in range(50))  # one per document
    test.write_text(repeated)
    cfg = _data_cfg(default_params_raw, "ner", source="files", files__train=str(train), files__test=str(test),
                    carve={"validation": 0.2, "test": 0.1})  # fmt: skip
    splits, stats = load_task("ner", cfg)
    validation = {" ".join(r["tokens"]) for r in splits["validation"]}
    assert not validation & {" ".join(r["tokens"]) for r in splits["test"]}
    assert stats["dropped_overlap"]["validation"] > 0 and splits["validation"]
