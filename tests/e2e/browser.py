"""A real headless Chromium for end-to-end tests: Debian's `chromium` and `chromium-driver` packages
(`make browser` installs them), driven by Selenium.

    require_browser()                      # fails under CI, skips elsewhere, when they are missing
    with chromium(tmp_path) as driver:
        driver.get(server.url + "/dashboard")

The driver and the browser are the Debian binaries named explicitly, so Selenium never tries to
download a browser or a driver of its own (this machine cannot fetch one, and CI must not).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.factories import DEFAULT_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WAIT_SECONDS = 15.0

T = TypeVar("T")


def require_browser() -> None:
    """Skip without the Debian browser locally; under CI a missing browser is a failure, never a silent skip."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: run `make browser` (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def chromium(workdir: Path, *, width: int = 1280, height: int = 1000) -> Iterator[WebDriver]:
    """A headless Chromium with its own profile under `workdir` and downloads into `workdir / "downloads"`."""
    profile = workdir / "chromium-profile"
    downloads = workdir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",  # small /dev/shm in containers
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--lang=en-GB",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    # Console messages (a CSP violation is logged there) for `console_errors`.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], T], message: str = "",
             timeout: float = WAIT_SECONDS) -> T:
    """Poll `condition` until it returns something truthy; the page's error banner is in the failure."""
    try:
        # Stale or missing elements are normal while the page re-renders (a row replaced): poll again.
        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)
    except Exception as exc:
        banner = driver.execute_script("const e = document.getElementById('error'); return e ? e.textContent : '';")
        where = f"page error banner: {banner!r}; url {driver.current_url}"
        raise AssertionError(f"{message or condition} ({where})") from exc


def submit_login(driver: WebDriver, username: str, password: str = DEFAULT_PASSWORD) -> None:
    """On the dashboard's login page: type the credentials, submit with the keyboard (Enter), and wait
    until the page has moved on."""
    find(driver, "#username").send_keys(username)
    find(driver, "#password").send_keys(password + Keys.ENTER)
    wait_for(driver, lambda d: "/dashboard/login" not in d.current_url, "sign-in did not leave the login page")


def find(driver: WebDriver | WebElement, css: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, css)


def find_all(driver: WebDriver | WebElement, css: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, css)


def select(driver: WebDriver, css: str, value: str) -> None:
    Select(find(driver, css)).select_by_value(value)


def has_option(driver: WebDriver, css: str, value: str) -> Any:
    return driver.find_elements(By.CSS_SELECTOR, f"{css} option[value='{value}']")


def parse_number(text: str) -> int:
    """A figure as the page writes it ("1,234") back to an int."""
    return int(text.strip().replace(",", ""))


def screenshot(driver: WebDriver, name: str) -> Path:
    """A full-page PNG in tests/artifacts/ (gitignored): the whole page, not just the window."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console_errors(driver: WebDriver, *, expected_statuses: tuple[int, ...] = ()) -> list[str]:
    """SEVERE console entries since the last call: CSP violations, script errors, failed requests
    (except responses with one of `expected_statuses`, e.g. the 401 of a wrong password on purpose)."""
    allowed = tuple(f"the server responded with a status of {status} " for status in expected_statuses)
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and not any(text in entry["message"] for text in allowed)]


def wait_for_file(directory: Path, suffix: str, timeout: float = WAIT_SECONDS) -> Path:
    """A finished download (Chromium writes `*.crdownload` until it is complete)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [path for path in directory.glob(f"*{suffix}") if not path.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no *{suffix} download in {directory}: {sorted(p.name for p in directory.iterdir())}")
