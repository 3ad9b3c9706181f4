"""`tmlops compare <task>`: the task's MLflow runs side by side, best first.

Shows only the params that differ between runs (the rest is noise), the key test metric and
the throughput, and writes a bar plot of the key metric per run.
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
    """Rows (run, differing params, metrics) best first, the differing param names, the key."""
    import mlflow

    key = GATES[task][1]
    uri = connect()
    experiment = f"transformer-mlops-{task}"
    if mlflow.get_experiment_by_name(experiment) is None:
        raise UserError(
            f"no MLflow experiment {experiment!r} at {redact(uri)}; run `dvc repro` first"
        )
    frame = mlflow.search_runs(experiment_names=[experiment], max_results=limit,
                               order_by=[f"metrics.`{key}` DESC", "attributes.start_time DESC"])  # fmt: skip
    if frame.empty:
        return [], [], key
    params = [c for c in frame.columns if c.startswith("params.")]
    differing = sorted(c for c in params if frame[c].astype(str).nunique(dropna=False) > 1)
    rows = []
    for _, run in frame.iterrows():
        row = {"run": run["run_id"][:8], "name": run.get("tags.mlflow.runName", ""),
               "started": str(run["start_time"])[:19].replace(" ", "T"), "status": run["status"]}  # fmt: skip
        row.update({c.removeprefix("params."): run[c] for c in differing})
        for metric in (key, *EXTRA_METRICS):
            value = run.get(f"metrics.{metric}")
            row[metric] = None if value is None or value != value else round(float(value), 4)
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
