"""Every named recipe (recipes/*.yaml) end to end, as a user runs it: `tmlops profile
recipes/<name>.yaml`, a smoke profile on top (a few hundred examples, a few steps), then `dvc
repro` of the recipe's task. With the public datasets beside the project (../shared/datasets)
the recipes read them; without, small files in the same formats stand in (`--set` to them), so
a recipe cannot rot on any machine: its keys, its format reader and its settings all run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests import recipe_samples
from tests.integration.conftest import ROOT, copy_project, run
from transformer_mlops.recipes import load_recipe, missing_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGES = {"seq2seq": "evaluate_scratch", "ner": "evaluate_ner", "qa": "evaluate_qa"}
METRICS = {"seq2seq": "scratch", "ner": "ner", "qa": "qa"}
# Recipes of different tasks share one project (one `dvc repro` for them all).
GROUPS = [("conll2003", "squad", "fra-eng"), ("wnut17", "babi")]
SAMPLES = {  # recipe -> {split: writer of a stand-in file}
    "conll2003": {"train": lambda p: recipe_samples.conll(p, 400, 1), "test": lambda p: recipe_samples.conll(p, 80, 2)},
    "wnut17": {"train": lambda p: recipe_samples.conll(p, 400, 3, columns=2),
               "test": lambda p: recipe_samples.conll(p, 80, 4, columns=2)},
    "squad": {"train": lambda p: recipe_samples.squad(p, 400, 5)},
    "babi": {"train": lambda p: recipe_samples.babi(p, 400, 6), "test": lambda p: recipe_samples.babi(p, 80, 7)},
    "fra-eng": {"train": lambda p: recipe_samples.pairs(p, 1500, 8)},
}  # fmt: skip


def smoke(task: str) -> dict:
    trainer = {"max_epochs": 1, "max_steps": 4, "precision": "32-true"}
    return {task: {"data": {"limit": {"train": 300, "validation": 60, "test": 60},
                            "bounds": {"min_rows": 10}},
                   "train": {"batch_size": 16, "trainer": trainer}}}  # fmt: skip


def apply_recipe(project: Path, name: str) -> str:
    """`tmlops profile` the recipe (pointing it at stand-in files where the data is absent),
    then the smoke profile; returns the recipe's task."""
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    task = recipe.about["task"]
    sets = []
    if missing_files(recipe.overlay, [task], project):
        for split, write in SAMPLES[name].items():
            # bAbI names its question kind in the file name (qaN_<kind>_<split>.txt)
            path = write(project / "samples" / name / f"qa1_sample_{split}.txt")
            sets += ["--set", f"{task}.data.files.{split}={path.relative_to(project)}"]
    out = run(["tmlops", "profile", f"recipes/{name}.yaml", *sets], project)
    assert "applied" in out.stdout
    (project / f"smoke-{name}.yaml").write_text(yaml.safe_dump(smoke(task)))
    run(["tmlops", "profile", f"smoke-{name}.yaml"], project)
    return task


@pytest.mark.parametrize("group", GROUPS, ids=["+".join(g) for g in GROUPS])
def test_every_recipe_runs_end_to_end_on_a_small_sample(tmp_path, group):
    project = copy_project(tmp_path / "project")
    tasks = [apply_recipe(project, name) for name in group]
    repro = run(["dvc", "repro", *(STAGES[task] for task in tasks)], project, timeout=1800)
    log = repro.stdout + repro.stderr
    assert "Traceback" not in log
    for name, task in zip(group, tasks, strict=True):
        stats = json.loads((project / f"data/prepared/{task}/stats.json").read_text())
        assert stats["source"] == "files", name
        metrics = json.loads((project / f"reports/metrics/{METRICS[task]}.json").read_text())
        assert 0 < metrics["test/examples"] <= 60, name  # this run's (limited) test split
        if name == "fra-eng":  # the longest pairs, held out of training, are scored apart
            assert 0 < metrics["test/examples_longest"] <= 60 and "test/bleu_longest" in metrics
