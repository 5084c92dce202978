"""The coordinator dashboard in a real browser: headless Chromium (Debian's) driven by Selenium,
against a real gunicorn on a SQLite database seeded with the demo data and records pushed over HTTP.

The numbers the page shows are checked against what `/api/v1/aggregates` answers for the same
filters; revoking, resolving and applying go through the UI and are checked through the API.
Screenshots land in tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.keys import Keys

from server.extensions import db
from server.persistence.timeutil import utcnow
from tests.e2e.browser import (
    chromium,
    console_errors,
    find,
    find_all,
    has_option,
    parse_number,
    require_browser,
    screenshot,
    select,
    submit_login,
    wait_for,
    wait_for_file,
)
from tests.e2e.conftest import Tablet
from tests.e2e.live_server import LiveServer, direct_app, live_server, prepare_database
from tests.factories import (
    DEFAULT_PASSWORD,
    consultation_data,
    correct_mutation,
    create_mutation,
    distribution_data,
    make_device,
    make_user,
    outreach_data,
    push_body,
)

COORDINATOR = "amira.coordinator"


@dataclass(frozen=True)
class Programme:
    server: LiveServer
    api_headers: dict[str, str]
    tripoli: Tablet
    sabha: Tablet
    quiet_device_id: str
    conflict_record_id: str
    year: int
    workdir: Path


def _days_this_year(count: int) -> list[str]:
    """Dates spread over the current year up to today (occurred_on may not be in the future)."""
    today = date.today()
    start = date(today.year, 1, 1)
    step = max(1, (today - start).days // count)
    return [min(start + timedelta(days=index * step), today).isoformat() for index in range(count)]


def _push(server: LiveServer, tablet: Tablet, mutations: list[Any]) -> list[dict[str, Any]]:
    body = push_body(mutations)
    response = requests.post(server.url + "/api/v1/sync/push", json=body, timeout=30,
                             headers={**tablet.headers, "Idempotency-Key": body["batch_id"]})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _programme_data(server: LiveServer, tripoli: Tablet, sabha: Tablet) -> str:
    """Consultations, a distribution and outreach in two areas, a conflict and a rejected mutation."""
    days = _days_this_year(12)
    groups = ["refugee", "refugee", "migrant", "idp", "refugee", "asylum_seeker"]
    tripoli_records = [
        create_mutation(data=consultation_data(occurred_on=days[index], population_group=groups[index % 6],
                                               sex="fm"[index % 2]))
        for index in range(12)
    ]
    tripoli_records.append(create_mutation("distribution", distribution_data(occurred_on=days[3], quantity=4,
                                                                             population_group="refugee")))
    sabha_records = [
        create_mutation(data=consultation_data(team_id="ly-dcmt-sabha", site_id="ly-dc-sabha", occurred_on=days[i],
                                               population_group=["migrant", "refugee"][i % 2]))
        for i in range(7)
    ]
    assert {r["status"] for r in _push(server, tripoli, tripoli_records)} == {"applied"}
    assert {r["status"] for r in _push(server, sabha, sabha_records)} == {"applied"}
    # A conflict: the server corrected sex to "m" while the tablet, still at version 1, said "x".
    disputed = tripoli_records[0]["id"]
    _push(server, tripoli, [correct_mutation(disputed, 1, {"sex": "m"})])
    assert _push(server, tripoli, [correct_mutation(disputed, 1, {"sex": "x"}, reason="asked again")])[0][
        "status"] == "conflict"
    # A rejected create (an unknown sex code), kept in quarantine.
    bad = create_mutation("outreach", outreach_data(team_id="ly-dcmt-sabha", site_id="ly-dc-sabha",
                                                    occurred_on=days[2], population_group="migrant"))
    bad["data"]["reached"] = {"q": {"18-59": 9}}
    assert _push(server, sabha, [bad])[0]["status"] == "rejected"
    return disputed


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Programme]:
    require_browser()
    # SQLite only (no PostgreSQL cluster to start): the page is the subject here, the engines are
    # covered by the API tests.
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-db')}/fieldsync.db"
    prepare_database(url)
    app = direct_app(url)
    with app.app_context():
        make_user(db.session, username=COORDINATOR, role="coordinator", countries=("LY",))
        enrolled = {team: make_device(db.session, team_id=team)
                    for team in ("ly-mmt-tripoli", "ly-dcmt-sabha", "ly-chw-tripoli")}
        labels = {"ly-mmt-tripoli": "MMT Tripoli tablet 1", "ly-dcmt-sabha": "Sabha detention tablet",
                  "ly-chw-tripoli": "CHW Tripoli tablet"}
        for team, device in enrolled.items():
            device.device.label = labels[team]
        # Enrolled long ago and last heard from 12 days ago: "silent".
        quiet = enrolled["ly-chw-tripoli"].device
        quiet.created_at = utcnow() - timedelta(days=60)
        quiet.last_seen_at = utcnow() - timedelta(days=12)
        tablets = {team: Tablet(e.device.id, e.device.team_id, e.token, e.user.username)
                   for team, e in enrolled.items()}
        quiet_id = quiet.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with live_server(url, workers=2, threads=4) as server:
        token = requests.post(server.url + "/api/v1/auth/token", timeout=30,
                              json={"username": COORDINATOR, "password": DEFAULT_PASSWORD}).json()["token"]
        disputed = _programme_data(server, tablets["ly-mmt-tripoli"], tablets["ly-dcmt-sabha"])
        yield Programme(server=server, api_headers={"Authorization": f"Bearer {token}"},
                        tripoli=tablets["ly-mmt-tripoli"], sabha=tablets["ly-dcmt-sabha"], quiet_device_id=quiet_id,
                        conflict_record_id=disputed, year=date.today().year,
                        workdir=tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def browser(programme: Programme) -> Iterator[WebDriver]:
    with chromium(programme.workdir) as driver:
        yield driver
        # Whatever a test did, no page may have logged a CSP violation or a script error. The 401
        # (a wrong password) and 422 (a fix still invalid) are provoked on purpose.
        assert console_errors(driver, expected_statuses=(401, 422)) == []


def api(programme: Programme, path: str, **params: str) -> Any:
    response = requests.get(programme.server.url + path, params=params, headers=programme.api_headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json() if response.headers["Content-Type"].startswith("application/json") else response.text


def sign_in(driver: WebDriver, programme: Programme, path: str) -> None:
    """Open a dashboard page, signing in through the login form when it sends us there."""
    driver.get(programme.server.url + path)
    wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    if "/dashboard/login" not in driver.current_url:
        return
    submit_login(driver, COORDINATOR)


def headline(driver: WebDriver, indicator: str) -> int:
    return parse_number(find(driver, f"li[data-indicator='{indicator}'] .headline-value").text)


def figures_loaded(driver: WebDriver) -> bool:
    return "Figures updated" in find(driver, "#status").text


def test_sign_in_then_filter_and_read_the_aggregates(browser: WebDriver, programme: Programme) -> None:
    browser.get(programme.server.url + "/dashboard")
    wait_for(browser, lambda d: "/dashboard/login" in d.current_url, "an anonymous visit goes to the login form")
    find(browser, "#username").send_keys(COORDINATOR)
    find(browser, "#password").send_keys("wrong password!")
    find(browser, "#login-submit").click()
    wait_for(browser, lambda d: "Wrong username or password" in find(d, "#error").text)
    find(browser, "#password").clear()
    sign_in(browser, programme, "/dashboard/login?next=/dashboard")
    wait_for(browser, figures_loaded, "the overview did not load its figures")
    year_bounds = {"from": f"{programme.year}-01-01", "to": f"{programme.year}-12-31"}
    unfiltered = api(programme, "/api/v1/aggregates", indicator="health_consultations", country="LY", **year_bounds)
    assert headline(browser, "health_consultations") == unfiltered["total"] == 19

    # Filter through the form: Tripoli, refugees, women.
    wait_for(browser, lambda d: has_option(d, "#f-area", "ly-tripoli"), "areas with data are offered")
    select(browser, "#f-area", "ly-tripoli")
    select(browser, "#f-population_group", "refugee")
    select(browser, "#f-sex", "f")
    find(browser, "#apply-filters").click()
    wait_for(browser, lambda d: "population_group=refugee" in d.current_url and figures_loaded(d))

    filters = {"country": "LY", "area": "ly-tripoli", "population_group": "refugee", "sex": "f", **year_bounds}
    expected = api(programme, "/api/v1/aggregates", indicator="health_consultations", **filters)
    shown = headline(browser, "health_consultations")
    assert shown == expected["total"] and 0 < shown < unfiltered["total"]
    kits = api(programme, "/api/v1/aggregates", indicator="hygiene_kits_distributed", **filters)["total"]
    assert headline(browser, "hygiene_kits_distributed") == kits
    # Trainings have no population group: the page leaves that filter out for them instead of failing.
    trained = {name: value for name, value in filters.items() if name != "population_group"}
    assert headline(browser, "people_trained") == api(programme, "/api/v1/aggregates", indicator="people_trained",
                                                      **trained)["total"]
    assert find(browser, "#error").text == ""
    # The month table's rows add up to the API's months, and its footer is the API's total.
    by_month = api(programme, "/api/v1/aggregates", indicator="health_consultations", group_by="month", **filters)
    month_cells = [parse_number(cell.text) for cell in find_all(browser, "#table-month tbody td.num")]
    assert sum(month_cells) == sum(row["value"] for row in by_month["rows"])
    assert parse_number(find(browser, "#table-month tfoot td.num").text) == expected["total"]
    assert find_all(browser, "#chart-month svg rect.bar")
    screenshot(browser, "dashboard.png")


def test_download_saves_the_csv_the_api_gives(browser: WebDriver, programme: Programme) -> None:
    sign_in(browser, programme, "/dashboard?country=LY&population_group=refugee")
    wait_for(browser, figures_loaded)
    downloads = programme.workdir / "downloads"
    find(browser, "[data-group-by='area'] button[data-format='csv']").click()
    saved = wait_for_file(downloads, ".csv")

    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    expected = api(programme, "/api/v1/aggregates", indicator="health_consultations", group_by="area",
                   country="LY", population_group="refugee", format="csv",
                   **{"from": f"{programme.year}-01-01", "to": f"{programme.year}-12-31"})
    assert rows == list(csv.DictReader(io.StringIO(expected)))
    assert {row["area"] for row in rows} == {"ly-tripoli", "ly-sabha"}


def test_sync_health_highlights_silent_devices_and_revokes_with_confirmation(
    browser: WebDriver, programme: Programme
) -> None:
    sign_in(browser, programme, "/dashboard/devices")
    wait_for(browser, lambda d: len(find_all(d, "#devices-table tbody tr[data-device-id]")) == 3)
    quiet = find(browser, f"tr[data-device-id='{programme.quiet_device_id}']")
    assert "silent" in quiet.get_attribute("class") and "Silent 12 days" in quiet.text
    tripoli_row = find(browser, f"tr[data-device-id='{programme.tripoli.device_id}']")
    assert "silent" not in (tripoli_row.get_attribute("class") or "") and "1.4.0" in tripoli_row.text
    assert "Active" in tripoli_row.text and "1" in find(tripoli_row, "td.num").text  # its open conflict

    # Cancel with the keyboard: nothing happens.
    find(browser, f"tr[data-device-id='{programme.sabha.device_id}'] button.revoke").click()
    dialog = find(browser, "#revoke-dialog")
    wait_for(browser, lambda d: dialog.is_displayed())
    assert "Sabha detention tablet" in find(browser, "#revoke-text").text
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(browser, lambda d: not dialog.is_displayed())
    hello = requests.get(programme.server.url + "/api/v1/sync/hello", headers=programme.sabha.headers, timeout=30)
    assert hello.status_code == 200

    # Confirm: the row shows it revoked, and the tablet's token is refused with "wipe".
    find(browser, f"tr[data-device-id='{programme.sabha.device_id}'] button.revoke").click()
    wait_for(browser, lambda d: dialog.is_displayed())
    find(browser, "#revoke-confirm").click()
    wait_for(browser, lambda d: "Revoked" in find(d, f"tr[data-device-id='{programme.sabha.device_id}']").text)
    assert "1 revoked" in find(browser, "#devices-summary").text
    screenshot(browser, "dashboard-devices.png")
    refused = requests.get(programme.server.url + "/api/v1/sync/hello", headers=programme.sabha.headers, timeout=30)
    assert refused.status_code == 403 and refused.json()["wipe"] is True


def test_data_quality_resolves_a_conflict_and_applies_a_fixed_mutation(
    browser: WebDriver, programme: Programme
) -> None:
    sign_in(browser, programme, "/dashboard/quality")
    wait_for(browser, lambda d: find_all(d, "article[data-conflict-id]") and find_all(d, "article[data-quarantine-id]"))
    conflict = find(browser, "article[data-conflict-id]")
    assert programme.conflict_record_id in conflict.text and "asked again" in conflict.text
    quarantined = find(browser, "article[data-quarantine-id]")
    assert "People reached › q" in quarantined.text  # the field by its name, the bad key as sent
    screenshot(browser, "dashboard-quality.png")

    find(conflict, "button[data-use='device']").click()
    wait_for(browser, lambda d: not find_all(d, "article[data-conflict-id]"), "the resolved conflict stays listed")
    history = api(programme, f"/api/v1/records/{programme.conflict_record_id}/history")
    assert (history["version"], history["data"]["sex"]) == (3, "x")

    # A fix that is still wrong shows the API's field message; the corrected one applies. The JSON
    # editor is folded while the form covers every field a problem names.
    find(quarantined, ".json-editor summary").click()
    textarea = find(quarantined, "textarea")
    mutation = json.loads(textarea.get_attribute("value"))
    mutation["data"]["reached"] = {"z": {"18-59": 9}}
    textarea.clear()
    textarea.send_keys(json.dumps(mutation))
    find(quarantined, "button.apply").click()
    wait_for(browser, lambda d: "mutation.data.reached" in find(quarantined, ".field-errors").text)
    mutation["data"]["reached"] = {"f": {"18-59": 9}}
    textarea.clear()
    textarea.send_keys(json.dumps(mutation))
    find(quarantined, "button.apply").click()
    wait_for(browser, lambda d: not find_all(d, "article[data-quarantine-id]"), "the applied mutation stays listed")
    assert api(programme, "/api/v1/quarantine")["items"] == []
    reached = api(programme, "/api/v1/aggregates", indicator="people_reached_by_chws", team="ly-dcmt-sabha")
    assert reached["total"] == 9
