"""The coordinator dashboard: server-rendered HTML pages and their local JS and CSS.

The pages are public shells with no data in them. In the browser, `dashboard.js` logs in with
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

from flask import Blueprint, Response, redirect, render_template, request, send_from_directory, url_for
from flask_babel import gettext

from server.web import i18n
from server.web.auth import PUBLIC, access
from sync.codes import ITEM_CATEGORIES
from sync.domain import AgeBand, PopulationGroup, Sex

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

def N_(message: str) -> str:
    """Marks a string for the catalogue (pybabel extract -k N_); it is translated when rendered."""
    return message


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

PAGES = {
    "overview": N_("Impact overview"),
    "devices": N_("Sync health"),
    "quality": N_("Data quality"),
    "places": N_("Places and teams"),
    "users": N_("Users"),
    "audit": N_("Audit log"),
    "catalogue": N_("Countries and catalogue"),
}

# Every sentence dashboard.js shows is written `t("English text")` there; pybabel extracts them
# (babel.cfg, keyword `t`) and each page carries their translations in a <template> of <data>
# elements (no inline script under the CSP), which the script looks up by the English text.
_JS_MESSAGE = re.compile(r'\bt\("((?:[^"\\]|\\.)*)"\)')
JS_MESSAGES = tuple(dict.fromkeys(
    json.loads(f'"{match}"') for match in _JS_MESSAGE.findall((STATIC_DIR / "dashboard.js").read_text("utf-8"))
))

# The indicator registry's labels (server/aggregation/indicators.py), for the catalogue: the script
# shows `t(label)` for the labels the API returns in English.
INDICATOR_LABELS = (
    N_("Health consultations provided"), N_("People who had a consultation"), N_("Hygiene kits distributed"),
    N_("People who received a hygiene kit"), N_("People reached by community health workers"),
)


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
    return render_template(
        template,
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
        switch_to=[(code, LANGUAGE_NAMES[code]) for code in i18n.LANGUAGES if code != i18n.current_language()],
    )


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
    return _page("catalogue.html", "catalogue", PAGES["catalogue"])


@bp.route("/login")
@access(PUBLIC)
def login() -> str:
    return _page("login.html", "login", N_("Sign in"))


@bp.route("/static/<path:filename>")
@access(PUBLIC)
def static(filename: str) -> Response:
    # Short max-age: assets are not fingerprinted, and a coordinator should get a fixed script soon.
    return send_from_directory(STATIC_DIR, filename, max_age=300)
