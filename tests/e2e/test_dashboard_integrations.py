"""Issue 28's Integrations page in a real browser (headless Chromium) against `make run`'s gunicorn and
delivery worker on SQLite, with a real receiver on loopback verifying with `standardwebhooks`:

a coordinator adds a webhook and sees its secret once, a tablet pushes a record, the receiver fails
until the delivery is `failed`, the coordinator sees it in the deliveries, the receiver comes back,
the coordinator retries it and sees it delivered, signed with the secret the page showed; then the
page in Arabic, right to left, with the same webhook, and no serious accessibility violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.webdriver import WebDriver

from server.extensions import db
from tests.e2e.accessibility import require_axe, serious_violations
from tests.e2e.browser import chromium, console_errors, find, find_all, require_browser, submit_login, wait_for
from tests.e2e.live_server import LiveServer, direct_app, live_server, prepare_database
from tests.factories import create_mutation, make_device, make_user, push_body
from tests.webhook_receiver import Receiver

COORDINATOR = "amal.integrations"
ENV = {"WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_ALLOWED_HTTP_HOSTS": "127.0.0.1", "WEBHOOK_POLL_SECONDS": "0.2",
       "WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_RETRY_MAX_WAIT_SECONDS": "0.4",
       "WEBHOOK_RETRY_WINDOW_SECONDS": "1", "WEBHOOK_TIMEOUT_SECONDS": "2"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    # Down (503) until the test brings it back.
    state = {"up": False}
    with Receiver(behaviour=lambda attempt: 204 if state["up"] else 503) as running:
        running.state = state  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    require_browser()
    url = f"sqlite:///{tmp_path_factory.mktemp('integrations-db')}/fieldsync.db"
    prepare_database(url)
    app = direct_app(url)
    with app.app_context():
        make_user(db.session, username=COORDINATOR, role="coordinator", countries=("LY",))
        tablet = make_device(db.session, team_id="ly-mmt-tripoli").token
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with live_server(url, workers=2, threads=4, env=ENV, webhook_worker=True) as running:
        yield running, tablet


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("integrations-browser")) as driver:
        yield driver
        assert console_errors(driver) == []


def open_page(driver: WebDriver, server: LiveServer, path: str) -> None:
    driver.get(server.url + path)
    wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    if "/dashboard/login" in driver.current_url:
        submit_login(driver, COORDINATOR)
        driver.get(server.url + path)
        wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def delivery_row(driver: WebDriver, wanted: str) -> str | None:
    """Asks the page for the deliveries again (it shows them when asked) and reads the first row: its
    text if it shows `wanted`. The table is drawn anew when the answer comes, so a row read as it is
    replaced is simply read again at the next poll."""
    try:
        find(driver, "#hooks-table tbody tr button.button-secondary").click()
        rows = find_all(driver, "#deliveries-table tbody tr")
        text = rows[0].text if rows else ""
    except StaleElementReferenceException:
        return None
    return text if wanted in text else None


def click_retry(driver: WebDriver) -> bool:
    try:
        find(driver, "#deliveries-table tbody tr button").click()
    except StaleElementReferenceException:
        return False
    return True


def test_a_coordinator_adds_a_webhook_sees_a_failed_delivery_and_retries_it(
        browser: WebDriver, server: tuple[LiveServer, str], receiver: Receiver, tmp_path: Path) -> None:
    live, tablet = server
    open_page(browser, live, "/dashboard/integrations")
    wait_for(browser, lambda d: "No webhooks yet." in find(d, "#hooks-table").text, "the empty list")
    find(browser, "#hook-url").send_keys(receiver.url)
    find(browser, "#hook-countries").send_keys("ly")
    find(browser, "#hook-submit").click()
    wait_for(browser, lambda d: find(d, "#hook-secret").is_displayed(), "the secret was not shown")
    secret = find(browser, "#hook-secret-value").text
    assert secret.startswith("whsec_")
    receiver.secret = secret
    wait_for(browser, lambda d: receiver.url in find(d, "#hooks-table tbody").text, "the webhook is listed")

    created = create_mutation()
    body = push_body([created])
    pushed = requests.post(live.url + "/api/v1/sync/push", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {tablet}", "Idempotency-Key": body["batch_id"]})
    assert [r["status"] for r in pushed.json()["results"]] == ["applied"]

    # The receiver answers 503 past the retry window: the delivery is failed, and says why.
    failed = wait_for(browser, lambda d: delivery_row(d, "Failed"), "the delivery did not fail", timeout=60)
    assert "503" in failed and created["id"] in failed
    assert receiver.accepted == []

    receiver.state["up"] = True  # type: ignore[attr-defined]
    wait_for(browser, click_retry, "Retry could not be pressed")
    wait_for(browser, lambda d: "Queued again." in find(d, "#status").text, "the retry was not queued")
    wait_for(browser, lambda d: delivery_row(d, "Delivered"), "the retried delivery was not delivered", timeout=60)
    assert [d.body["data"]["id"] for d in receiver.accepted] == [created["id"]]
    assert receiver.rejected == []

    # The secret is shown once: not after a reload.
    open_page(browser, live, "/dashboard/integrations")
    wait_for(browser, lambda d: receiver.url in find(d, "#hooks-table tbody").text, "the webhook is listed")
    assert not find(browser, "#hook-secret").is_displayed()
    assert secret not in browser.page_source

    open_page(browser, live, "/dashboard/integrations?lang=ar")
    assert browser.execute_script("return document.documentElement.dir") == "rtl"
    wait_for(browser, lambda d: receiver.url in find(d, "#hooks-table tbody").text, "the webhook is listed in Arabic")
    assert "Webhooks" not in find(browser, "#hooks-heading").text
    require_axe()
    assert serious_violations(browser) == []
