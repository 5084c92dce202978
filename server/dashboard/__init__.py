"""The coordinator dashboard: server-rendered HTML pages and their local JS and CSS.

The pages are public shells with no data in them. In the browser, `dashboard.js` (an ES module
importing `js/*.js` and its page's `js/pages/<page>.js`) logs in with
`POST /api/v1/auth/token`, keeps the bearer token in `sessionStorage` (gone when the tab closes)
and reads and changes everything through the JSON API, so the API's authorization stays the only
gate. No cookie carries authority, which leaves no CSRF surface.

Every response of this blueprint carries a strict Content-Security-Policy (`default-src 'self'`:
no inline script or style, no third-party origin), so a value that slipped into the page as markup
still could not run; the script writes data with `textContent` only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, send_from_directory, url_for
from flask_babel import force_locale, gettext

from server.web import error_pages, i18n
from server.web.auth import PUBLIC, access
from server.web.i18n import N_
from sync.codes import ITEM_CATEGORIES
from sync.domain import AgeBand, PopulationGroup, Sex
from sync.record_types import INDICATORS

STATIC_DIR = Path(__file__).parent / "static"

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates", static_folder=None)
# `/` itself: a new coordinator who opens the server's address lands on the dashboard.
root = Blueprint("root", __name__)


@root.route("/")
@access(PUBLIC)
def index() -> Response:
    lang = request.args.get("lang")
    target = url_for("dashboard.overview", lang=lang) if lang in ("en", "ar") else url_for("dashboard.overview")
    return redirect(target, 302)  # type: ignore[return-value]


SECURITY_HEADERS = {
    # 'self' only: no inline script (hence no inline event handlers) and no CDN. frame-ancestors
    # and X-Frame-Options both refuse framing (clickjacking a revoke button), for old and new browsers.
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; "
        # data: images only, for the ODK Collect enrolment QR code (a PNG the API returns as a data URI).
        "img-src 'self' data:"
    ),
    "X-Content-Type-Options": "nosniff",
    # Page URLs carry filters only, but nothing about the programme needs to reach other sites.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

# Labels for the domain's wire codes, shown in filters and tables (the codes stay the values).
POPULATION_GROUP_LABELS = {
    PopulationGroup.REFUGEE: N_("Refugees"),
    PopulationGroup.ASYLUM_SEEKER: N_("Asylum seekers"),
    PopulationGroup.MIGRANT: N_("Migrants"),
    PopulationGroup.IDP: N_("Internally displaced people"),
    PopulationGroup.RETURNEE: N_("Returnees"),
    PopulationGroup.HOST: N_("Host community"),
}
SEX_LABELS = {Sex.FEMALE: N_("Female"), Sex.MALE: N_("Male"), Sex.OTHER: N_("Other / not recorded")}
AGE_BAND_LABELS = {band: band.value for band in AgeBand}  # "18-59" (+ "years" in the template)

SITE_TYPE_LABELS = {
    "community_centre": N_("Community centre"), "detention_centre": N_("Detention centre"),
    "mobile_point": N_("Mobile point"), "disembarkation_point": N_("Disembarkation point"),
    "health_facility": N_("Health facility"),
}
TEAM_TYPE_LABELS = {
    "mobile_medical": N_("Mobile medical team"), "chw": N_("Community health workers"),
    "static_clinic": N_("Static clinic"), "rescue_at_sea": N_("Rescue at sea"),
}

ROLE_LABELS = {"field_worker": N_("Field worker"), "coordinator": N_("Coordinator"), "admin": N_("Admin")}
ENTITY_LABELS = {"consultation": N_("Consultation"), "distribution": N_("Distribution"),
                 "outreach": N_("Outreach activity"), "training": N_("Training")}
VISIT_LABELS = {"new": N_("New visit"), "follow_up": N_("Follow-up visit")}
ACTIVITY_LABELS = {"awareness_session": N_("Awareness session"), "household_visit": N_("Household visit"),
                   "screening": N_("Screening"), "group_session": N_("Group session")}
ITEM_CATEGORY_LABELS = {"hygiene_kit": N_("Hygiene kit"), "dignity_kit": N_("Dignity kit"),
                        "nfi": N_("Non-food items"), "medicine": N_("Medicine")}
# domain.md's training codes (the training record type's own labels may replace these when it lands).
TOPIC_LABELS = {"srh": N_("Sexual and reproductive health"), "mhpss": N_("Mental health and psychosocial support"),
                "gbv": N_("Gender-based violence"), "cmr": N_("Clinical management of rape"),
                "first_aid": N_("First aid"), "ipc": N_("Infection prevention and control"),
                "nutrition": N_("Nutrition"), "other": N_("Other topic")}
PARTICIPANT_TYPE_LABELS = {"moh_staff": N_("Ministry of Health staff"), "chw": N_("Community health workers"),
                           "volunteer": N_("Volunteers"), "staff": N_("Our staff")}
# A record's fields as a person reads them (the quarantine form's labels, the audit log's keys).
FIELD_LABELS = {
    "site_id": N_("Site"), "team_id": N_("Team"), "occurred_on": N_("Date it happened"),
    "recorded_at": N_("Recorded on the tablet at"), "population_group": N_("Population group"), "sex": N_("Sex"),
    "age_band": N_("Age band"), "age_years": N_("Age in years"), "visit": N_("Visit"), "service": N_("Service"),
    "referral": N_("Referred on"), "beneficiary_ref": N_("Beneficiary reference"), "item_code": N_("Item"),
    "quantity": N_("Quantity"), "household_size": N_("Household size"), "activity": N_("Activity"),
    "topic": N_("Topic"), "reached": N_("People reached"), "participant_type": N_("Participants' role"),
    "participants": N_("Participants"), "days": N_("Days"), "title": N_("Title"),
    # What the audit log's entries hold (users, places, devices, codes).
    "username": N_("Username"), "role": N_("Role"), "countries": N_("Countries"), "active": N_("Active"),
    "name": N_("Name"), "name_ar": N_("Arabic name"), "pcode": N_("P-code"), "area_id": N_("Area"),
    "site_type": N_("Site type"), "team_type": N_("Team type"), "site_ids": N_("Sites"), "country": N_("Country"),
    "code": N_("Code"), "category": N_("Category"), "label": N_("Tablet label"), "status": N_("Status"),
    "expires_at": N_("Valid until"), "revoked_at": N_("Revoked at"), "locked": N_("Locked"),
    "statements": N_("Public statements"), "indicator": N_("Indicator"), "filters": N_("Filters"),
    "id": N_("Id"), "country_code": N_("Country"),
    "text": N_("Sentence"), "text_ar": N_("Arabic sentence"), "reason": N_("Reason"), "device_id": N_("Device"),
}
TARGET_TYPE_LABELS = {"user": N_("User"), "device": N_("Tablet"), "area": N_("Area"), "site": N_("Site"),
                      "team": N_("Team"), "country": N_("Country"), "item": N_("Item"), "service": N_("Service"),
                      "enrollment": N_("Enrolment code"), "statements": N_("Public statements"),
                      "webhook": N_("Webhook"), "quarantine": N_("Quarantined change"), "conflict": N_("Conflict")}

PAGES = {
    "overview": N_("Impact overview"),
    "devices": N_("Sync health"),
    "quality": N_("Data quality"),
    "places": N_("Places and teams"),
    "users": N_("Users"),
    "audit": N_("Audit log"),
    "catalogue": N_("Countries and catalogue"),
    "integrations": N_("Integrations"),
}

# Every sentence the scripts show is written `t("English text")` there; pybabel extracts them
# (babel.cfg, keyword `t`) and each page carries their translations in a <template> of <data>
# elements (no inline script under the CSP), which the script looks up by the English text.
_JS_MESSAGE = re.compile(r'\bt\("((?:[^"\\]|\\.)*)"\)')
# Every module under static/ (the entry, the shared modules, each page's), in a stable order.
SCRIPTS = tuple(sorted(STATIC_DIR.rglob("*.js")))
JS_MESSAGES = tuple(dict.fromkeys(
    json.loads(f'"{match}"') for script in SCRIPTS for match in _JS_MESSAGE.findall(script.read_text("utf-8"))
))

# The indicator registry's labels (declared with their record types, sync/record_types.py, where
# babel.cfg extracts them), for the catalogue: the script shows `t(label)` for the labels the API
# returns in English.
INDICATOR_LABELS = tuple(indicator.label for indicator in INDICATORS)


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    # The language switch (?lang=) is remembered for the next pages; the cookie is a preference only.
    lang = i18n.requested_language()
    if lang:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    return response


def _page(template: str, page: str, title: str) -> str:
    return render_template(template, **_context(page, title))


def _context(page: str, title: str) -> dict[str, Any]:
    return dict(
        page=page,
        title=gettext(title),
        pages={key: gettext(label) for key, label in PAGES.items()},
        population_groups={code: gettext(label) for code, label in POPULATION_GROUP_LABELS.items()},
        sexes={code: gettext(label) for code, label in SEX_LABELS.items()},
        age_bands={band: gettext("%(band)s years", band=label) for band, label in AGE_BAND_LABELS.items()},
        js_messages={message: gettext(message) for message in (*JS_MESSAGES, *INDICATOR_LABELS)},
        site_types={code: gettext(label) for code, label in SITE_TYPE_LABELS.items()},
        team_types={code: gettext(label) for code, label in TEAM_TYPE_LABELS.items()},
        item_categories=ITEM_CATEGORIES,
        labels=_labels(),
        switch_to=[(code, LANGUAGE_NAMES[code]) for code in i18n.LANGUAGES if code != i18n.current_language()],
    )


def _labels() -> dict[str, dict[str, str]]:
    """Every code a person may meet, by name in the page's language: base.html writes one
    `<template id="labels-<kind>">` per kind, which the scripts read (dom.js `labelsFrom`)."""
    tables: dict[str, dict[Any, str]] = {
        "population_group": POPULATION_GROUP_LABELS, "sex": SEX_LABELS, "site_type": SITE_TYPE_LABELS,
        "team_type": TEAM_TYPE_LABELS, "role": ROLE_LABELS, "entity": ENTITY_LABELS, "visit": VISIT_LABELS,
        "activity": ACTIVITY_LABELS, "item_category": ITEM_CATEGORY_LABELS, "topic": TOPIC_LABELS,
        "participant_type": PARTICIPANT_TYPE_LABELS, "field": FIELD_LABELS, "target_type": TARGET_TYPE_LABELS,
    }
    labels = {kind: {str(code): gettext(label) for code, label in table.items()} for kind, table in tables.items()}
    labels["age_band"] = {str(band): gettext("%(band)s years", band=label) for band, label in AGE_BAND_LABELS.items()}
    return labels


LANGUAGE_NAMES = {"en": "English", "ar": "العربية"}


@bp.route("", strict_slashes=False)
@access(PUBLIC)
def overview() -> str:
    return _page("overview.html", "overview", PAGES["overview"])


@bp.route("/devices")
@access(PUBLIC)
def devices() -> str:
    return _page("devices.html", "devices", PAGES["devices"])


@bp.route("/quality")
@access(PUBLIC)
def quality() -> str:
    return _page("quality.html", "quality", PAGES["quality"])


@bp.route("/places")
@access(PUBLIC)
def places() -> str:
    return _page("places.html", "places", PAGES["places"])


@bp.route("/users")
@access(PUBLIC)
def users() -> str:
    return _page("users.html", "users", PAGES["users"])


@bp.route("/audit")
@access(PUBLIC)
def audit() -> str:
    return _page("audit.html", "audit", PAGES["audit"])


@bp.route("/catalogue")
@access(PUBLIC)
def catalogue() -> str:
    # The statements' preview shows both languages whatever the page's: the suppressed-count words of each.
    preview_words = {}
    for code in i18n.LANGUAGES:
        with force_locale(code):
            preview_words[code] = gettext("fewer than 10")
    return render_template("catalogue.html", **_context("catalogue", PAGES["catalogue"]), preview_words=preview_words)


@bp.route("/integrations")
@access(PUBLIC)
def integrations() -> str:
    return _page("integrations.html", "integrations", PAGES["integrations"])


@bp.route("/login")
@access(PUBLIC)
def login() -> str:
    return _page("login.html", "login", N_("Sign in"))


ERROR_TITLES = {
    404: N_("There is no dashboard page at this address"),
    405: N_("This action is not possible here"),
}
ERROR_MESSAGES = {
    404: N_("The address may be mistyped or out of date. Choose a page from the menu above."),
    405: N_("Choose a page from the menu above."),
}


def render_error(status: int, code: str, message: str, fields: dict[str, list[str]]) -> Response:
    """Any error under /dashboard as a dashboard page in the reader's language, never a JSON body:
    the dashboard's addresses are opened by people, in a browser (api.md v1.2)."""
    title = ERROR_TITLES.get(status, N_("Something went wrong"))
    html = render_template(
        "error.html", **_context("error", title),
        message=gettext(ERROR_MESSAGES.get(status, N_("The server could not complete the request. Try again later."))),
        status=status, code=code,
    )
    response = Response(html, status=status, mimetype="text/html")
    return _security_headers(response)


bp.record_once(lambda _state: error_pages.register_prefix(bp.url_prefix or "/dashboard", render_error))


@bp.route("/static/<path:filename>")
@access(PUBLIC)
def static(filename: str) -> Response:
    # Short max-age: assets are not fingerprinted, and a coordinator should get a fixed script soon.
    return send_from_directory(STATIC_DIR, filename, max_age=300)
