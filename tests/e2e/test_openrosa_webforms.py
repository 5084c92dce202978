"""ODK clients end to end: ODK Web Forms fills in every served XForm in headless Chromium and its
instance reaches a real gunicorn as Collect sends it; the dashboard enrols a Collect tablet.

ODK Web Forms (npm `@getodk/web-forms`, ODK's own form engine and UI) is installed by `make webforms`
into tests/e2e/webforms/node_modules and mounted by a bare page (tests/e2e/webforms/index.html, an
import map for its one peer dependency, vue) served from a local static server. The test downloads
the form and its media from Fieldsync's OpenRosa routes with the tablet's key, hands them to the page,
clicks through the questions, presses Send, and posts the instance XML the engine wrote as the
multipart `xml_submission_file` Collect sends. The page cannot post it itself: Fieldsync's OpenRosa
routes send no CORS headers (Collect needs none), and the harness page lives on another origin.
"""

from __future__ import annotations

import functools
import http.client
import http.server
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver

from server.extensions import db
from tests.e2e.browser import chromium, console_errors, find, find_all, require_browser, screenshot, wait_for
from tests.e2e.live_server import LiveServer, direct_app, live_server, prepare_database
from tests.factories import DEFAULT_PASSWORD, make_user

HARNESS = Path(__file__).resolve().parent / "webforms"
FORMLIST = "{http://openrosa.org/xforms/xformsList}"
MANIFEST = "{http://openrosa.org/xforms/xformsManifest}"
COORDINATOR = "collect.coordinator"
WORKER = "collect.worker"


def require_webforms() -> None:
    require_browser()
    if not (HARNESS / "node_modules" / "@getodk" / "web-forms" / "dist" / "index.js").exists():
        import os

        message = "ODK Web Forms is not installed: run `make webforms`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@dataclass(frozen=True)
class Setup:
    server: LiveServer
    harness_url: str
    coordinator: dict[str, str]
    workdir: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    require_webforms()
    url = f"sqlite:///{tmp_path_factory.mktemp('openrosa-db')}/fieldsync.db"
    prepare_database(url)
    app = direct_app(url)
    with app.app_context():
        make_user(db.session, username=COORDINATOR, role="coordinator", countries=("LY",))
        make_user(db.session, username=WORKER, role="field_worker", team_id="ly-mmt-tripoli")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    handler = functools.partial(_QuietHandler, directory=str(HARNESS))
    static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=static.serve_forever, daemon=True)
    thread.start()
    try:
        with live_server(url, workers=2, threads=4) as server:
            token = requests.post(server.url + "/api/v1/auth/token", timeout=30,
                                  json={"username": COORDINATOR, "password": DEFAULT_PASSWORD}).json()["token"]
            yield Setup(server=server, harness_url=f"http://127.0.0.1:{static.server_address[1]}/index.html",
                        coordinator={"Authorization": f"Bearer {token}"},
                        workdir=tmp_path_factory.mktemp("webforms-browser"))
    finally:
        static.shutdown()
        static.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def browser(setup: Setup) -> Iterator[WebDriver]:
    with chromium(setup.workdir) as driver:
        yield driver


def enrol(setup: Setup, label: str) -> dict:
    response = requests.post(setup.server.url + "/api/v1/teams/ly-mmt-tripoli/collect-devices", timeout=30,
                             json={"username": WORKER, "label": label}, headers=setup.coordinator)
    assert response.status_code == 201, response.text
    return response.json()


def get(url: str) -> requests.Response:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, (url, response.status_code, response.text)
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    return response


# What to answer in each form: radio choices (by value) and numbers (by position among the form's number
# inputs); the date keeps its default, today.
ANSWERS = {
    "fieldsync_consultation": {"radios": ["ly-mp-tripoli", "refugee", "f", "18-59", "new", "mhpss", "yes"],
                               "numbers": {}},
    "fieldsync_distribution": {"radios": ["ly-mp-tripoli", "hk-family", "migrant", "m", "5-17"],
                               "numbers": {0: "3"}},  # quantity
    "fieldsync_outreach": {"radios": ["ly-mp-tripoli", "group_session", "idp"],
                           "numbers": {2: "12", 5: "3"}},  # reached f_18_59, m_5_17
    "fieldsync_training": {"radios": ["ly-mp-tripoli", "mhpss", "moh_staff"],
                           "numbers": {0: "2", 1: "9", 3: "1"}},  # days, participants f, x
}


def fill_and_send(driver: WebDriver, setup: Setup, xform: str, media: dict[str, str], form_id: str) -> str:
    driver.get(setup.harness_url)
    wait_for(driver, lambda d: d.execute_script("return Boolean(window.harness && window.harness.ready)"))
    driver.execute_script("window.harness.start(arguments[0], arguments[1])", xform, media)
    wait_for(driver, lambda d: find_all(d, "button[aria-label='Send']"), "Web Forms did not render the form")
    answers = ANSWERS[form_id]
    for value in answers["radios"]:
        radio = wait_for(driver, lambda d, v=value: find(d, f"input[type='radio'][value='{v}']"))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", radio)
        wait_for(driver, lambda d, r=radio: r.is_selected(), f"choice {value} was not selected")
    numbers = find_all(driver, "input.p-inputnumber-input")
    for index, text in answers["numbers"].items():
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", numbers[index])
        numbers[index].click()
        numbers[index].send_keys(text)
    find(driver, "h1, h2").click()  # leave the last field, so its value is committed
    screenshot(driver, f"webforms-{form_id}.png")
    find(driver, "button[aria-label='Send']").click()
    submitted = wait_for(driver, lambda d: d.execute_script("return window.harness.submitted"),
                         "Send did not produce an instance (a required question left empty?)")
    assert driver.execute_script("return window.harness.errors") == []
    assert submitted["status"] == "ready", submitted
    return submitted["xml"]


@pytest.mark.parametrize("form_id", ["fieldsync_consultation", "fieldsync_distribution", "fieldsync_outreach",
                                     "fieldsync_training"])
def test_web_forms_fills_each_served_form_and_the_instance_is_accepted(
    browser: WebDriver, setup: Setup, form_id: str
) -> None:
    tablet = enrol(setup, f"Web Forms {form_id}")
    base = tablet["server_url"]
    forms = ET.fromstring(get(base + "/formList").content)
    (entry,) = [x for x in forms.findall(f"{FORMLIST}xform") if x.findtext(f"{FORMLIST}formID") == form_id]
    xform = get(entry.findtext(f"{FORMLIST}downloadUrl") or "").text
    manifest = ET.fromstring(get(entry.findtext(f"{FORMLIST}manifestUrl") or "").content)
    media = {f.findtext(f"{MANIFEST}filename"): get(f.findtext(f"{MANIFEST}downloadUrl") or "").text
             for f in manifest.findall(f"{MANIFEST}mediaFile")}

    instance = fill_and_send(browser, setup, xform, media, form_id)
    assert f'id="{form_id}"' in instance and "<instanceID>uuid:" in instance

    # Exactly one Date header (gunicorn writes it; the app must not add a second).
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", parts.path + "/formList")
    raw = connection.getresponse()
    raw.read()
    assert len(raw.headers.get_all("Date") or []) == 1 and raw.headers["X-OpenRosa-Version"] == "1.0"
    connection.close()

    # As Collect: HEAD, then the multipart POST.
    head = requests.head(base + "/submission", timeout=30)
    assert head.status_code == 204
    limit = int(head.headers["X-OpenRosa-Accept-Content-Length"])
    assert len(instance.encode()) < limit
    posted = requests.post(base + "/submission", timeout=30,
                           files={"xml_submission_file": ("submission.xml", instance.encode(), "text/xml")})
    assert posted.status_code == 201, posted.text
    assert "submit_success" in posted.text and posted.headers["Date"]

    # The record is the team's, like a pushed one: the tablet's key is an ordinary device token.
    key = base.rsplit("/", 1)[1]
    pulled = requests.get(setup.server.url + "/api/v1/sync/pull", params={"stream": "records"}, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}).json()["changes"]
    instance_id = ET.fromstring(instance).find(".//{*}instanceID").text.removeprefix("uuid:")  # type: ignore[union-attr]
    (record,) = [change for change in pulled if change["id"] == instance_id]
    data = record["data"]
    assert data["site_id"] == "ly-mp-tripoli" and data["team_id"] == "ly-mmt-tripoli"
    if form_id == "fieldsync_consultation":
        assert (data["population_group"], data["sex"], data["age_band"], data["service"], data["referral"]) == (
            "refugee", "f", "18-59", "mhpss", True)
    elif form_id == "fieldsync_distribution":
        assert (data["item_code"], data["quantity"], data["age_band"]) == ("hk-family", 3, "5-17")
    elif form_id == "fieldsync_outreach":
        assert data["reached"] == {"f": {"18-59": 12}, "m": {"5-17": 3}}
    else:
        assert (data["topic"], data["participant_type"], data["days"], data["participants"]) == (
            "mhpss", "moh_staff", 2, {"f": 9, "x": 1})
        assert "population_group" not in data and "title" not in data
    # Sent again (no answer reached the tablet): the same answer, counted once.
    again = requests.post(base + "/submission", timeout=30,
                          files={"xml_submission_file": ("submission.xml", instance.encode(), "text/xml")})
    assert again.status_code in (201, 202)


def test_web_forms_offers_the_arabic_labels(browser: WebDriver, setup: Setup) -> None:
    base = enrol(setup, "Arabic check")["server_url"]
    xform = get(base + "/forms/fieldsync_consultation.xml").text
    media = {name: get(f"{base}/forms/fieldsync_consultation/media/{name}").text
             for name in ("sites.csv", "services.csv")}
    browser.get(setup.harness_url)
    wait_for(browser, lambda d: d.execute_script("return Boolean(window.harness && window.harness.ready)"))
    browser.execute_script("window.harness.start(arguments[0], arguments[1])", xform, media)
    wait_for(browser, lambda d: find_all(d, "button[aria-label='Send']"), "Web Forms did not render the form")
    find(browser, ".p-select").click()  # the form's language menu
    wait_for(browser, lambda d: [o for o in find_all(d, "[role='option']") if o.text == "Arabic (ar)"])
    [option for option in find_all(browser, "[role='option']") if option.text == "Arabic (ar)"][0].click()
    wait_for(browser, lambda d: "الموقع" in find(d, "body").text, "the Arabic labels did not appear")
    body = find(browser, "body").text
    assert "لاجئ" in body and "الفئة السكانية" in body  # a choice label and a question label
    screenshot(browser, "webforms-arabic.png")


def test_the_status_form_shows_the_tablets_quarantined_submission_in_both_languages(
    browser: WebDriver, setup: Setup
) -> None:
    # What ODK Collect's field worker sees of a submission the server kept in quarantine (issue 30 §4).
    base = enrol(setup, "Status check")["server_url"]
    instance_id = "uuid:3f9b7a0e-5d0c-4f59-9a0b-7c1d2e3f4a5b"
    bad = (f'<data id="fieldsync_consultation" version="1"><site_id>ly-mp-benghazi</site_id>'
           f"<occurred_on>2026-01-05</occurred_on><population_group>refugee</population_group><sex>f</sex>"
           f"<age_band>18-59</age_band><visit>new</visit><service>general</service><referral>no</referral>"
           f"<meta><instanceID>{instance_id}</instanceID></meta></data>")
    kept = requests.post(base + "/submission", timeout=30,
                         files={"xml_submission_file": ("submission.xml", bad.encode(), "text/xml")})
    assert kept.status_code == 202, kept.text
    xform = get(base + "/forms/fieldsync_status.xml").text
    media = {"quarantine.csv": get(base + "/forms/fieldsync_status/media/quarantine.csv").text}
    browser.get(setup.harness_url)
    wait_for(browser, lambda d: d.execute_script("return Boolean(window.harness && window.harness.ready)"))
    browser.execute_script("window.harness.start(arguments[0], arguments[1])", xform, media)
    wait_for(browser, lambda d: "waiting for a coordinator" in find(d, "body").text,
             "the status form did not show the quarantined submission")
    body = find(browser, "body").text
    assert "Forms waiting for a coordinator: 1" in body and "Unknown site for this team" in body
    screenshot(browser, "webforms-status.png")
    find(browser, ".p-select").click()  # the form's language menu
    wait_for(browser, lambda d: [o for o in find_all(d, "[role='option']") if o.text == "Arabic (ar)"])
    [option for option in find_all(browser, "[role='option']") if option.text == "Arabic (ar)"][0].click()
    wait_for(browser, lambda d: "بانتظار المنسق" in find(d, "body").text, "the Arabic status did not appear")
    assert "موقع غير معروف لهذا الفريق." in find(browser, "body").text
    screenshot(browser, "webforms-status-arabic.png")


def test_dashboard_enrols_a_collect_tablet_and_shows_its_qr_code_once(browser: WebDriver, setup: Setup) -> None:
    browser.get(setup.server.url + "/dashboard/devices")
    wait_for(browser, lambda d: "/dashboard/login" in d.current_url)
    find(browser, "#username").send_keys(COORDINATOR)
    find(browser, "#password").send_keys(DEFAULT_PASSWORD)
    find(browser, "#login-submit").click()
    wait_for(browser, lambda d: d.current_url.endswith("/dashboard/devices"))
    wait_for(browser, lambda d: find_all(d, "#collect-team option[value='ly-mmt-tripoli']"))
    find(browser, "#collect-team option[value='ly-mmt-tripoli']").click()
    # The field worker is chosen among the team's, not typed.
    wait_for(browser, lambda d: find_all(d, f"#collect-username option[value='{WORKER}']"), "the team's workers")
    find(browser, f"#collect-username option[value='{WORKER}']").click()
    find(browser, "#collect-label").send_keys("Tablet 7")
    find(browser, "#collect-enrol").click()
    wait_for(browser, lambda d: find(d, "#collect-result").is_displayed(), "the QR code was not shown")
    # The PNG really displays (the page's Content-Security-Policy lets its data: URI through).
    wait_for(browser, lambda d: d.execute_script("return document.getElementById('collect-qr').naturalWidth") > 100)
    assert find(browser, "#collect-qr").get_attribute("src").startswith("data:image/png;base64,")
    # The page says which server the code sends the tablet to, and that a loopback one is useless.
    assert setup.server.url in find(browser, "#collect-server").text
    assert find(browser, "#collect-loopback").is_displayed()
    wait_for(browser, lambda d: "Tablet 7" in find(d, "#devices-table").text, "the new tablet is listed")
    screenshot(browser, "dashboard-collect-qr.png")
    find(browser, "#collect-done").click()
    wait_for(browser, lambda d: not find(d, "#collect-result").is_displayed())
    assert not find(browser, "#collect-qr").get_attribute("src")
    assert console_errors(browser) == []
    devices = requests.get(setup.server.url + "/api/v1/devices", headers=setup.coordinator, timeout=30).json()
    assert "Tablet 7" in [device["label"] for device in devices["items"]]


def test_harness_is_not_committed_with_its_dependencies() -> None:
    # node_modules is installed by `make webforms` and git-ignored, never committed.
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "tests/e2e/webforms/node_modules/" in ignored
    assert shutil.which("npm") or not (HARNESS / "node_modules").exists()
