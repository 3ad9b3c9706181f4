"""Progress log lines for training without a terminal (CI, nohup, a log file), shared by the
Lightning callback (tasks/callbacks.py) and the Keras path (tasks/qa_keras.py)."""

from __future__ import annotations

import os


def progress_every() -> float:
    """Seconds between progress lines: `TMLOPS_PROGRESS_SECONDS`, default 30."""
    return float(os.environ.get("TMLOPS_PROGRESS_SECONDS", "30"))


def progress_line(step: int, total: float | None, epoch: int, loss: float | None,
                  elapsed: float) -> str:  # fmt: skip
    """'step 120/940 (13%), epoch 1, train/loss 1.234, 4.2 steps/s, about 3m15s left'."""
    known = total not in (None, float("inf"))
    rate = step / elapsed if elapsed > 0 else 0.0
    parts = [f"step {step}/{int(total)} ({100 * step / max(int(total), 1):.0f}%)" if known
             else f"step {step}", f"epoch {epoch}"]  # fmt: skip
    if loss is not None:
        parts.append(f"train/loss {float(loss):.4g}")
    parts.append(f"{rate:.2f} steps/s")
    if rate > 0 and known:
        left = max(int(total) - step, 0) / rate
        parts.append(f"about {int(left // 60)}m{int(left % 60):02d}s left")
    return ", ".join(parts)
