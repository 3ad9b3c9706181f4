"""The named recipes (recipes/*.yaml): valid params over the defaults, a complete `recipe:`
block, a missing data file named with where to get the dataset, and `tmlops recipes`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from transformer_mlops.config import parse_params
from transformer_mlops.errors import ConfigError, DataError, UserError
from transformer_mlops.profiles import apply_profile, merge, parse_set
from transformer_mlops.recipes import list_recipes, load_recipe, result_line, split_recipe

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["babi", "conll2003", "fra-eng", "squad", "wnut17"]


def test_every_recipe_names_its_dataset_and_is_valid_over_the_default_params(default_params_raw):
    recipes = list_recipes(ROOT / "recipes")
    assert [r.name for r in recipes] == NAMES
    for recipe in recipes:
        task = recipe.about["task"]
        assert list(recipe.overlay) == [task], recipe.name  # one task per recipe
        params = parse_params(merge(default_params_raw, recipe.overlay))  # every key exists
        data = getattr(params, task).data
        assert data.source == "files" and data.files.train, recipe.name  # its files named
        assert recipe.about["get"].split()[0].startswith("https://"), recipe.name
        assert result_line(recipe)


def test_applying_a_recipe_without_its_data_names_the_file_and_where_to_get_it(root, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((root / "params.yaml").read_text())
    before = params.read_text()
    with pytest.raises(DataError) as error:
        apply_profile(root / "recipes/conll2003.yaml", params)
    message = str(error.value)
    assert "ner.data.files.train = ../shared/datasets/conll2003/train.txt: no such file" in message
    assert "https://www.clips.uantwerpen.be/conll2003/ner/" in message and "--set" in message
    assert params.read_text() == before  # nothing half-written

    for name in ("train.conll", "test.conll"):
        (tmp_path / name).write_text("EU NNP B-NP B-ORG\n")
    merged = apply_profile(root / "recipes/conll2003.yaml", params,
                           ("ner.data.files.train=train.conll", "ner.data.files.test=test.conll"))  # fmt: skip
    assert merged["ner"]["data"]["files"]["train"] == "train.conll"
    own = load_recipe(root / "recipes/conll2003.yaml").overlay["ner"]["train"]["trainer"]
    assert merged["ner"]["train"]["trainer"]["max_epochs"] == own["max_epochs"]  # the recipe's
    assert yaml.safe_load(params.read_text()) == merged


def test_set_reads_values_as_yaml_and_rejects_unknown_keys(root, tmp_path):
    assert parse_set("qa.train.seed=7") == {"qa": {"train": {"seed": 7}}}
    assert parse_set("ner.data.entity_types=null") == {"ner": {"data": {"entity_types": None}}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set("qa.train.seed")
    params = tmp_path / "params.yaml"
    params.write_text((root / "params.yaml").read_text())
    with pytest.raises(ConfigError, match=r"qa\.train\.sed: not a params key"):
        apply_profile(root / ".ci/params-ci.yaml", params, ("qa.train.sed=1",))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"task": "ner", "dataset": "X", "get": "https://x"}, r"recipe\.split: required"),
        ({"task": "qa", "dataset": "X", "get": "https://x", "split": "s"}, "sets no qa"),
        ({"task": "ner", "dataset": "X", "get": "https://x", "split": "s", "measured": {"seed": 1}},
         r"recipe\.measured\.metrics: required"),
        ("ner", "expected a mapping"),
    ],
)  # fmt: skip
def test_an_incomplete_recipe_block_is_refused(block, message):
    with pytest.raises(ConfigError, match=message):
        split_recipe({"recipe": block, "ner": {"train": {"seed": 1}}}, "r.yaml")


def test_a_missing_recipe_is_one_message(tmp_path):
    with pytest.raises(ConfigError, match="no such recipe"):
        load_recipe(tmp_path / "nope.yaml")


def test_tmlops_recipes_lists_each_with_its_recorded_result(root):
    out = subprocess.run([sys.executable, "-m", "transformer_mlops.cli", "recipes"], cwd=root,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    for name in NAMES:
        assert f"\n{name} (" in f"\n{out}"
        assert f"tmlops profile recipes/{name}.yaml" in out
    assert out.count("recorded:") == len(NAMES)
    # a reader that stops early (`tmlops recipes | head -1`) ends it quietly, no traceback
    piped = subprocess.run(f"{sys.executable} -m transformer_mlops.cli recipes | head -1", shell=True,
                           cwd=root, capture_output=True, text=True)  # fmt: skip
    assert piped.stdout.count("\n") == 1 and "Traceback" not in piped.stderr, piped.stderr


def test_record_writes_the_run_into_the_recipe_and_reports(root, tmp_path, default_params_raw):
    """After `tmlops profile` + `dvc repro`: the run's figures go to reports/recipes/<name>.json
    and the recipe's `measured:` block; a params.yaml without the recipe is refused."""
    from transformer_mlops.recipes import record

    recipe_path = tmp_path / "recipes/wnut17.yaml"
    recipe_path.parent.mkdir()
    recipe_path.write_text((root / "recipes/wnut17.yaml").read_text())
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(default_params_raw))
    with pytest.raises(
        ConfigError, match=r"does not hold .*wnut17\.yaml: ner\.data\.source is 'synthetic'"
    ):
        record(load_recipe(recipe_path), params)

    params.write_text(yaml.safe_dump(merge(default_params_raw, load_recipe(recipe_path).overlay)))
    with pytest.raises(UserError, match=r"data/prepared/ner/stats\.json: not found"):
        record(load_recipe(recipe_path), params)
    files = {"data/prepared/ner/stats.json": {"source": "files"},
             "reports/metrics/ner.json": {"test/f1": 61.2, "test/precision": 70.0, "test/recall": 54.3,
                                          "test/examples": 1009},
             "reports/speed/ner.json": {"train/seconds": 600.0, "train/tokens_per_second": 812.4,
                                        "train/precision": "32-true"}}  # fmt: skip
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(content))
    measured = record(load_recipe(recipe_path), params)
    assert measured["metrics"] == {"test/f1": 61.2, "test/precision": 70.0, "test/recall": 54.3}
    assert measured["train_minutes"] == 10.0 and measured["tokens_per_second"] == 812
    reloaded = load_recipe(recipe_path)  # still a valid recipe, its comments kept
    assert reloaded.measured == measured and recipe_path.read_text().startswith("# WNUT-17")
    saved = json.loads((tmp_path / "reports/recipes/wnut17.json").read_text())
    assert saved["recipe"] == "wnut17" and saved["test_examples"] == 1009
    assert "tokens/s" in result_line(reloaded)


@pytest.mark.parametrize("name", NAMES)
def test_the_stand_in_files_of_the_smoke_runs_load_under_each_recipe(
    name, tmp_path, default_params_raw
):
    """Where the public datasets are absent (a CI runner), the recipes' smoke runs read small
    files in the same formats: they must load, carve and pass the row bounds like the real ones."""
    from tests.integration.test_recipes import SAMPLES, smoke
    from transformer_mlops.data.sources import load_task

    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    task = recipe.about["task"]
    raw = merge(merge(default_params_raw, recipe.overlay), smoke(task))
    for split, write in SAMPLES[name].items():
        raw[task]["data"]["files"][split] = str(write(tmp_path / f"qa1_sample_{split}.txt"))
    splits, stats = load_task(task, getattr(parse_params(raw), task).data)
    assert stats["source"] == "files"
    assert all(len(splits[split]) >= 10 for split in ("train", "validation", "test")), {
        split: len(rows) for split, rows in splits.items()
    }
