"""`tmlops compare <task>`: the task's MLflow runs side by side, best first.

Each evaluation run beside the training run it evaluated (their params together). Shows only
the params that differ between rows (the rest is noise), the key test metric and the
throughput, and writes a bar plot of the key metric per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformer_mlops.errors import UserError
from transformer_mlops.io import save_figure
from transformer_mlops.secrets import redact
from transformer_mlops.tracking.connection import connect
from transformer_mlops.tracking.registry import GATES

EXTRA_METRICS = ("train/tokens_per_second", "stage/wall_seconds")


def runs_table(task: str, limit: int = 20) -> tuple[list[dict[str, Any]], list[str], str]:
    """Rows (run, differing params, metrics) best first, the differing param names, the key.
    A row is an evaluation with the training run it evaluated: their params together, its
    test metric, the training's throughput; a training run not evaluated yet has no score."""
    import mlflow

    key = GATES[task][1]
    uri = connect()
    experiment = f"transformer-mlops-{task}"
    if mlflow.get_experiment_by_name(experiment) is None:
        raise UserError(
            f"no MLflow experiment {experiment!r} at {redact(uri)}; run `dvc repro` first"
        )
    frame = mlflow.search_runs(experiment_names=[experiment], max_results=max(limit * 4, 100),
                               order_by=["attributes.start_time DESC"])  # fmt: skip
    if frame.empty:
        return [], [], key
    records = [run.dropna().to_dict() for _, run in frame.iterrows()]
    parent = "tags.mlflow.parentRunId"
    trainings = {r["run_id"]: r for r in records if parent not in r}
    evaluated = set()
    joined = []
    for run in records:  # newest first: each evaluation with its training run's params
        if parent in run and run[parent] in trainings:
            evaluated.add(run[parent])
            joined.append({**trainings[run[parent]], **run})
    joined += [run for run_id, run in trainings.items() if run_id not in evaluated]
    joined.sort(key=lambda r: (-r.get(f"metrics.{key}", float("-inf")), str(r["start_time"])))
    joined = joined[:limit]
    params = sorted({c for r in joined for c in r if c.startswith("params.")})
    differing = [c for c in params if len({str(r.get(c)) for r in joined}) > 1]
    rows = []
    for run in joined:
        row = {"run": run["run_id"][:8], "name": run.get("tags.mlflow.runName", ""),
               "started": str(run["start_time"])[:19].replace(" ", "T"), "status": run["status"]}  # fmt: skip
        row.update({c.removeprefix("params."): run.get(c) for c in differing})
        for metric in (key, *EXTRA_METRICS):
            value = run.get(f"metrics.{metric}")
            row[metric] = None if value is None else round(float(value), 4)
        rows.append(row)
    return rows, [c.removeprefix("params.") for c in differing], key


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned text table."""
    if not rows:
        return "(no runs)"
    columns = list(rows[0])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def plot_runs(rows: list[dict[str, Any]], key: str, path: str | Path) -> None:
    """Horizontal bars of the key metric per run, best on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in rows if r[key] is not None]
    fig, ax = plt.subplots(figsize=(6, 1 + 0.35 * max(len(scored), 1)))
    labels = [f"{r['run']} {r['name']}" for r in scored][::-1]
    ax.barh(labels, [r[key] for r in scored][::-1], color="#4c72b0")
    ax.set_xlabel(key)
    ax.set_title(f"runs by {key}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
