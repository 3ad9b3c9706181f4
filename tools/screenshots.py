"""The README's pictures of the views, taken from the workspace after `dvc repro` (run it with
`make screenshots`): DVC's plots page, the MLflow UI's runs of one task, and a registered model
with its alias history. Headless Chromium (Debian's `chromium` + `chromium-driver`) and a real
`mlflow server` on loopback over the project's own store; nothing leaves the machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.integration.browser import headless_chromium, wait_for_text  # noqa: E402

CLOSE_ASSISTANT = '[data-component-id="mlflow.assistant.chat_panel.close"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shoot(driver, url: str, texts: list[str], path: Path, settle: float = 2.0) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for_text(driver, texts, timeout=90)
    for close in driver.find_elements(By.CSS_SELECTOR, CLOSE_ASSISTANT):
        close.click()  # MLflow's chat panel: not what the picture is about
    time.sleep(settle)  # charts and tables finish drawing after their text appears
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def dvc_plots(driver) -> None:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([str(BIN / "dvc"), "plots", "show", "-o", folder], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        shoot(driver, Path(folder, "index.html").as_uri(), ["transformer-mlops"],
              OUT / "dvc-plots.png", settle=4.0)  # fmt: skip


def mlflow_views(driver) -> None:
    from mlflow import MlflowClient

    port = free_port()
    store = f"sqlite:///{ROOT / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(os.devnull, "wb") as quiet:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--app-name", "transformer-mlops", "--backend-store-uri", store, "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"], cwd=ROOT, env=env, stdout=quiet, stderr=quiet)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        experiment = MlflowClient(tracking_uri=store).get_experiment_by_name(
            "transformer-mlops-ner"
        )
        shoot(driver, f"{base}/#/experiments/{experiment.experiment_id}", ["finetune_ner"],
              OUT / "mlflow-runs.png")  # fmt: skip
        shoot(driver, f"{base}/#/models/ner", ["Alias history"], OUT / "mlflow-registry.png")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    driver = headless_chromium(width=1400, height=1000)
    try:
        dvc_plots(driver)
        mlflow_views(driver)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
