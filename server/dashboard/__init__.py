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

from pathlib import Path

from flask import Blueprint, Response, redirect, render_template, request, send_from_directory, url_for

from server.auth import PUBLIC, access
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
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Page URLs carry filters only, but nothing about the programme needs to reach other sites.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

# Labels for the domain's wire codes, shown in filters and tables (the codes stay the values).
POPULATION_GROUP_LABELS = {
    PopulationGroup.REFUGEE: "Refugees",
    PopulationGroup.ASYLUM_SEEKER: "Asylum seekers",
    PopulationGroup.MIGRANT: "Migrants",
    PopulationGroup.IDP: "Internally displaced people",
    PopulationGroup.RETURNEE: "Returnees",
    PopulationGroup.HOST: "Host community",
}
SEX_LABELS = {Sex.FEMALE: "Female", Sex.MALE: "Male", Sex.OTHER: "Other / not recorded"}
AGE_BAND_LABELS = {band: f"{band.value} years" for band in AgeBand}

PAGES = {
    "overview": "Impact overview",
    "devices": "Sync health",
    "quality": "Data quality",
}


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _page(template: str, page: str, title: str) -> str:
    return render_template(
        template,
        page=page,
        title=title,
        pages=PAGES,
        population_groups=POPULATION_GROUP_LABELS,
        sexes=SEX_LABELS,
        age_bands=AGE_BAND_LABELS,
    )


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


@bp.route("/login")
@access(PUBLIC)
def login() -> str:
    return _page("login.html", "login", "Sign in")


@bp.route("/static/<path:filename>")
@access(PUBLIC)
def static(filename: str) -> Response:
    # Short max-age: assets are not fingerprinted, and a coordinator should get a fixed script soon.
    return send_from_directory(STATIC_DIR, filename, max_age=300)
