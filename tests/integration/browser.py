"""Headless Chromium for tests that check what a person sees (Debian's `chromium` +
`chromium-driver`, installed by .ci/run; on GitHub, Chrome for Testing named by CHROME_BIN and
CHROMEDRIVER, see .github/workflows/test.yml). Tests skip when neither is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver) executables, or None when they are not installed."""
    names = ("chromium", "chromium-browser", "google-chrome", "chrome")
    browser = os.environ.get("CHROME_BIN") or next(filter(None, map(shutil.which, names)), None)
    driver = (
        os.environ.get("CHROMEDRIVER")
        or shutil.which("chromedriver")
        or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    )
    return (browser, driver) if browser and driver else None


def headless_chromium(width: int = 1600, height: int = 1000):
    """A selenium WebDriver on headless Chromium; skips the test when it is unavailable."""
    webdriver = pytest.importorskip("selenium.webdriver")
    paths = chromium_paths()
    if paths is None:
        pytest.skip(
            "chromium + chromium-driver are not installed (apt-get install chromium chromium-driver,"
            " or set CHROME_BIN and CHROMEDRIVER)"
        )
    browser, driver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=driver)
    )


def wait_for_text(driver, texts: list[str], timeout: float = 60.0) -> str:
    """Wait until the page's visible text holds every string in `texts`; return that text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen = {"text": ""}

    def shows_all(drv) -> bool:
        seen["text"] = drv.find_element(By.TAG_NAME, "body").text
        return all(text in seen["text"] for text in texts)

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.5).until(shows_all)
    except TimeoutException:
        missing = [text for text in texts if text not in seen["text"]]
        raise AssertionError(f"page {driver.current_url} never showed {missing}; it showed:\n"
                             f"{seen['text'][:3000]}") from None  # fmt: skip
    return seen["text"]
