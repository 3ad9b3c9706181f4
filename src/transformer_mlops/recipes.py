"""Named real-data recipes: `recipes/<name>.yaml`, a params profile for one public dataset.

A recipe is a profile (only the keys that differ from params.yaml) plus a `recipe:` block that
is not params: the task, the dataset, where to get it, and the result measured with it. Applied
with `tmlops profile recipes/<name>.yaml` (profiles.py strips the block and checks that the data
files the recipe names exist); listed with `tmlops recipes`.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transformer_mlops.config import SPLITS
from transformer_mlops.errors import ConfigError, DataError, UserError
from transformer_mlops.io import atomic_write_text, data_files, read_yaml_mapping, write_json

RECIPES_DIR = Path("recipes")
RECORDS_DIR = Path("reports/recipes")
REQUIRED = ("task", "dataset", "get", "split")
MEASURED = ("metrics", "train_minutes", "tokens_per_second", "machine", "precision", "seed", "date")
# task -> (its reports/metrics file, the headline scores a recipe records)
HEADLINE = {
    "seq2seq": (
        "scratch",
        ("test/bleu", "test/chrf", "test/exact_match", "test/bleu_longest", "test/chrf_longest"),
    ),  # the last two with `carve.longest`
    "ner": ("ner", ("test/f1", "test/precision", "test/recall")),
    "qa": ("qa", ("test/exact_match", "test/f1")),
}


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    about: dict[str, Any]  # the `recipe:` block
    overlay: dict[str, Any]  # the params it changes

    @property
    def measured(self) -> dict[str, Any] | None:
        return self.about.get("measured")


def split_recipe(overlay: dict[str, Any], source: str | Path) -> tuple[dict[str, Any] | None, dict]:
    """(the `recipe:` block or None, the params overlay without it); a block missing a field
    a user needs (which task, which dataset, where to get it) is an error."""
    overlay = dict(overlay)
    about = overlay.pop("recipe", None)
    if about is None:
        return None, overlay
    if not isinstance(about, dict):
        raise ConfigError(f"{source}: recipe: expected a mapping ({', '.join(REQUIRED)}, measured)")
    missing = [key for key in REQUIRED if not about.get(key)]
    if missing:
        raise ConfigError(
            f"{source}: recipe.{missing[0]}: required (a recipe names {', '.join(REQUIRED)})"
        )
    if about["task"] not in overlay:
        raise ConfigError(f"{source}: recipe.task = {about['task']!r}, but the recipe sets no "
                          f"{about['task']}.* params")  # fmt: skip
    measured = about.get("measured")
    if measured is not None:
        absent = [key for key in MEASURED if key not in (measured or {})]
        if absent:
            raise ConfigError(f"{source}: recipe.measured.{absent[0]}: required (a recorded result "
                              f"names {', '.join(MEASURED)})")  # fmt: skip
    return about, overlay


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such recipe (`tmlops recipes` lists them)")
    raw = read_yaml_mapping(path, "a mapping of params keys and a recipe: block")
    about, overlay = split_recipe(raw, path)
    if about is None:
        raise ConfigError(f"{path}: no recipe: block (task, dataset, get, split)")
    return Recipe(path.stem, path, about, overlay)


def list_recipes(folder: str | Path = RECIPES_DIR) -> list[Recipe]:
    return [load_recipe(path) for path in sorted(Path(folder).glob("*.yaml"))]


def missing_files(params: dict[str, Any], tasks: list[str], root: Path) -> list[tuple[str, str]]:
    """(params key, path or glob) of every data file the tasks' `files` source names that is
    not there (paths relative to the project root, as the prepare stage reads them)."""
    missing = []
    for task in tasks:
        data = params.get(task, {}).get("data", {})
        if data.get("source") != "files":
            continue
        for split in SPLITS:
            value = data.get("files", {}).get(split)
            for pattern in [value] if isinstance(value, str) else list(value or []):
                if not data_files(pattern, root):
                    missing.append((f"{task}.data.files.{split}", pattern))
    return missing


def check_files(
    params: dict[str, Any], about: dict[str, Any], source: str | Path, root: Path
) -> None:
    """Stop, naming the key, the path and where to get the dataset, when a file is missing."""
    missing = missing_files(params, [about["task"]], root)
    if missing:
        key, pattern = missing[0]
        raise DataError(f"{source}: {key} = {pattern}: no such file. Get {about['dataset']} from "
                        f"{about['get']}, then point the key at your copy: tmlops profile {source} "
                        f"--set {key}=PATH")  # fmt: skip


def result_line(recipe: Recipe) -> str:
    """The recorded result in one line, e.g. `test/f1 91.17 in 17.7 min (AMD EPYC ..., seed 42)`."""
    measured = recipe.measured
    if not measured:
        return "not measured yet"
    scores = ", ".join(f"{k} {v:g}" for k, v in measured["metrics"].items())
    return (f"{scores} in {measured['train_minutes']:g} min of training, "
            f"{measured['tokens_per_second']:,} tokens/s ({measured['machine']}, {measured['precision']}, "
            f"seed {measured['seed']}, {measured['date']})")  # fmt: skip


def machine_kind() -> str:
    """e.g. `AMD EPYC, 2 cores, AVX2`: the CPU, the cores this process may use, and its best
    matrix instructions (what decides fp32 vs bf16 speed on these machines)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = set(re.findall(r"\S+", (re.search(r"^flags\s*:(.*)$", info, re.M) or ["", ""])[1]))
    isa = next((name for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"),
                                        ("avx512f", "AVX512"), ("avx2", "AVX2")) if flag in flags), "")  # fmt: skip
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ", ".join(
        filter(None, [model.group(1).strip() if model else "unknown CPU", f"{cores} cores", isa])
    )


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def not_applied(recipe: Recipe, params: dict[str, Any]) -> list[str]:
    """The recipe's settings that params differ from (its data file paths aside: a user's own
    copy of the dataset is still the recipe)."""
    have = _leaves(params)
    return [f"{key} is {have.get(key)!r} in params.yaml, the recipe has {value!r}"
            for key, value in _leaves(recipe.overlay).items()
            if ".data.files." not in key and have.get(key) != value]  # fmt: skip


def record(recipe: Recipe, params_path: str | Path = "params.yaml") -> dict[str, Any]:
    """After `tmlops profile <recipe>` and `dvc repro`: the run's test scores, training time,
    tokens/s, precision and seed, with this machine's kind and today's date, written to
    reports/recipes/<name>.json and into the recipe's `measured:` block (docs/results.md is
    generated from the former). Refused when params.yaml does not hold the recipe, or the
    prepared data is not from files."""
    task, root = recipe.about["task"], Path(params_path).resolve().parent  # the project
    reports = root / "reports"
    params = read_yaml_mapping(params_path, "a mapping of the task sections")
    differ = not_applied(recipe, params)
    if differ:
        raise ConfigError(f"{params_path}: does not hold {recipe.path}: {differ[0]}; apply it "
                          f"(tmlops profile {recipe.path}) and run dvc repro first")  # fmt: skip
    metrics_name, keys = HEADLINE[task]
    paths = {"stats": root / "data/prepared" / task / "stats.json",
             "metrics": reports / "metrics" / f"{metrics_name}.json",
             "speed": reports / "speed" / f"{metrics_name}.json"}  # fmt: skip
    loaded = {}
    for kind, path in paths.items():
        if not path.is_file():
            raise UserError(f"{path.relative_to(root)}: not found; run dvc repro with the recipe "
                            "applied first")  # fmt: skip
        loaded[kind] = json.loads(path.read_text(encoding="utf-8"))
    if loaded["stats"].get("source") != "files":
        raise UserError(f"{paths['stats'].relative_to(root)}: the prepared {task} data is {loaded['stats'].get('source')!r}, "
                        "not the recipe's files; run dvc repro with the recipe applied first")  # fmt: skip
    metrics, speed = loaded["metrics"], loaded["speed"]
    measured = {
        "metrics": {key: metrics[key] for key in keys if key in metrics},
        "train_minutes": round(speed["train/seconds"] / 60, 1),
        "tokens_per_second": round(speed["train/tokens_per_second"]),
        "machine": machine_kind(),
        "precision": speed["train/precision"],
        "seed": params[task]["train"]["seed"],
        "date": datetime.date.today().isoformat(),
    }
    write_json(root / RECORDS_DIR / f"{recipe.name}.json",
               {"recipe": recipe.name, "task": task, "dataset": recipe.about["dataset"],
                "split": recipe.about["split"], "reference": recipe.about.get("reference"),
                "test_examples": metrics.get("test/examples"), "files": params[task]["data"]["files"],
                **measured})  # fmt: skip
    _write_measured(recipe.path, measured)
    return measured


def _write_measured(path: Path, measured: dict[str, Any]) -> None:
    """Replace the recipe file's `measured:` block (its comments elsewhere kept)."""
    text = path.read_text(encoding="utf-8")
    block = "  measured:\n" + "".join(
        f"    {key}: {json.dumps(value) if isinstance(value, dict) else yaml.safe_dump(value).splitlines()[0]}\n"
        for key, value in measured.items()
    )
    pattern = re.compile(r"^  measured:.*\n(?:    .*\n)*", re.M)
    if not pattern.search(text):
        raise ConfigError(
            f"{path}: no `measured:` line in its recipe: block to write the result to"
        )
    atomic_write_text(path, pattern.sub(lambda _: block, text, count=1))
