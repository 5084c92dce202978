"""The dashboard's pages as served (no browser): public shells without data, safe headers, local assets."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from server.dashboard import SCRIPTS

PAGES = ["/dashboard", "/dashboard/", "/dashboard/login", "/dashboard/devices", "/dashboard/quality",
         "/dashboard/places", "/dashboard/users", "/dashboard/audit", "/dashboard/catalogue",
         "/dashboard/users?lang=ar", "/dashboard/integrations", "/dashboard/integrations?lang=ar"]
ASSETS = ["/dashboard/static/dashboard.js", "/dashboard/static/js/api.js", "/dashboard/static/js/pages/overview.js",
          "/dashboard/static/dashboard.css", "/dashboard/static/favicon.svg", "/dashboard/static/integrations.js"]


@pytest.mark.parametrize("path", PAGES + ASSETS)
def test_pages_and_assets_carry_the_safe_headers(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:  # closes a static file's stream
        assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self'") and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_shells_without_inline_code_or_external_assets(client: FlaskClient, path: str) -> None:
    html = client.get(path).get_data(as_text=True)

    expected = '<html lang="ar" dir="rtl">' if "lang=ar" in path else '<html lang="en" dir="ltr">'
    assert html.startswith("<!doctype html>") and expected in html
    # The CSP would block these anyway; the page must not depend on them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "an asset from another origin"
    assert "<h1>" in html and 'id="main"' in html


def test_the_page_needs_no_login_but_the_data_does(client: FlaskClient) -> None:
    assert client.get("/dashboard").status_code == 200
    for path in ("/api/v1/devices", "/api/v1/conflicts", "/api/v1/aggregates?indicator=health_consultations"):
        assert client.get(path).status_code == 401


def test_the_filters_offer_the_domain_codes(client: FlaskClient) -> None:
    html = client.get("/dashboard").get_data(as_text=True)

    for code in ("refugee", "asylum_seeker", "migrant", "idp", "returnee", "host", "18-59", "60+"):
        assert f'value="{code}"' in html
    for control in ("f-country", "f-year", "f-indicator", "f-area", "f-site", "f-team", "f-population_group",
                    "f-sex", "f-age_band", "f-from", "f-to"):
        assert f'<label for="{control}">' in html, f"{control} has no label"


@pytest.mark.parametrize("path", ["/dashboard/static/../__init__.py", "/dashboard/static/nope.js",
                                  "/dashboard/static/%2e%2e/__init__.py"])
def test_only_the_static_folder_is_served(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        assert response.status_code == 404


def test_the_script_never_writes_markup_or_evaluates_strings() -> None:
    # Data goes into the page through textContent and attributes only: a hostile value in a record
    # (a team name, a mutation's JSON) must never become markup or code.
    assert len(SCRIPTS) > 5  # the entry, the shared modules and the pages' modules
    for script in SCRIPTS:
        source = script.read_text()
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert risky not in source, f"{risky} in {script.name}"


def test_the_language_follows_lang_then_the_cookie_then_accept_language(client: FlaskClient) -> None:
    assert '<html lang="ar" dir="rtl">' in client.get("/dashboard", headers={"Accept-Language": "ar-LY,ar;q=0.9"}).text
    assert '<html lang="en" dir="ltr">' in client.get("/dashboard", headers={"Accept-Language": "fr, en;q=0.5"}).text
    switched = client.get("/dashboard/users?lang=ar")
    assert "fieldsync_lang=ar" in switched.headers["Set-Cookie"] and "HttpOnly" in switched.headers["Set-Cookie"]
    page = client.get("/dashboard/places")  # the cookie now chooses Arabic
    assert '<html lang="ar" dir="rtl">' in page.text and "الأماكن والفرق" in page.text
    assert 'id="lang-en"' in page.text  # the switch back
    assert '<html lang="en" dir="ltr">' in client.get("/dashboard/places?lang=en").text
    assert '<html lang="xx"' not in client.get("/dashboard?lang=xx").text  # unknown: ignored


def test_every_script_message_is_translated_into_arabic(client: FlaskClient) -> None:
    from flask_babel import force_locale, gettext

    from server.dashboard import INDICATOR_LABELS, JS_MESSAGES

    untranslated = []
    with client.application.test_request_context("/dashboard?lang=ar"), force_locale("ar"):
        for message in (*JS_MESSAGES, *INDICATOR_LABELS):
            if gettext(message) == message:
                untranslated.append(message)
    assert untranslated == []


def test_the_arabic_sync_health_page_has_the_collect_enrolment_in_arabic(client: FlaskClient) -> None:
    page = client.get("/dashboard/devices?lang=ar").get_data(as_text=True)
    assert "تسجيل جهاز لوحي لتطبيق ODK Collect" in page
    assert "ODK Collect أو KoboCollect" in page  # the app names stay in Latin script
    for english in ("Enrol a tablet for ODK Collect", "For teams that record", "Field worker's username",
                    "Tablet label", "Configure with QR code</strong>", "and scan this code", "hide the code"):
        assert english not in page, english
    # The script's sentences for this section come with the page, translated.
    assert "<data value=\"The QR code is hidden; it cannot be shown again.\">أُخفي رمز QR" in page


def test_the_script_is_a_native_module_served_as_javascript(client: FlaskClient) -> None:
    # A module script is refused unless its MIME type is JavaScript (with nosniff, strictly so).
    html = client.get("/dashboard").get_data(as_text=True)
    assert '<script type="module" src="/dashboard/static/dashboard.js">' in html
    for path in ("/dashboard/static/dashboard.js", "/dashboard/static/js/pages/quality.js"):
        with client.get(path) as response:
            assert response.mimetype in ("text/javascript", "application/javascript")


@pytest.mark.parametrize(("path", "lang", "heading"), [
    ("/dashboard/nowhere", "en", "There is no dashboard page at this address"),
    ("/dashboard/nowhere?lang=ar", "ar", "لا توجد صفحة في لوحة المنسق على هذا العنوان"),
    ("/dashboard/users/extra/parts", "en", "There is no dashboard page at this address"),
])
def test_a_wrong_dashboard_address_is_a_page_in_the_dashboards_language(client: FlaskClient, path: str, lang: str,
                                                                       heading: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert f'<html lang="{lang}"' in response.text and f"<h1>{heading}</h1>" in response.text
    assert '{"error"' not in response.text  # no JSON envelope
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")  # the dashboard's CSP
    assert 'href="/dashboard/users"' in response.text  # the menu, to find the way back


def test_the_api_keeps_its_json_errors(client: FlaskClient) -> None:
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
