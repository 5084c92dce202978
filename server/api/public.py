"""Public impact figures for the organisation's website (api.md "Public"): no login.

Thin handlers over `server.operations.public`; this module owns only HTTP: conditional requests, caching and
CORS headers, the preflight, and the framing policy of the HTML page.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from schemas.public import ImpactQuerySchema, ImpactSchema
from server.extensions import db
from server.operations import public
from server.operations.public_i18n import localize
from server.persistence.read_replica import read_session
from server.web import i18n
from server.web.auth import PUBLIC, access
from server.web.compression import gzip_etag, will_compress
from server.web.error_pages import error_page
from server.web.errors import ApiError
from server.web.transactions import reading_only

blp = Blueprint("public", __name__, url_prefix="/public/v1",
                description="Public impact figures for the website: no login, cacheable, cross-origin")

CACHE_CONTROL = "public, max-age=60"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
# Browsers send If-None-Match themselves from their cache; a script setting it needs the preflight.
ALLOWED_HEADERS = "If-None-Match"
PREFLIGHT_MAX_AGE = "86400"


@blp.route("/countries/<code>/impact")
@access(PUBLIC)
@blp.arguments(ImpactQuerySchema, location="query", unknown=RAISE)
@blp.response(200, ImpactSchema)
@blp.alt_response(304, description="Not modified: the `If-None-Match` tag is current.")
@blp.alt_response(404, description="Unknown country.")
def impact_json(args: dict[str, Any], code: str) -> Response:
    """A country's headline statements for a calendar year; `by=area` adds per-area values.

    Counts from 1 to 9 are `null` with `suppressed: true`. Strong `ETag` (304 on `If-None-Match`),
    `Cache-Control: public, max-age=60`, cross-origin GET from `CORS_ORIGINS`.
    """
    return _cacheable(public.render_json(_impact(code, args)), "application/json")


@blp.route("/countries/<code>/impact.html")
@access(PUBLIC)
@error_page
@blp.arguments(ImpactQuerySchema, location="query", unknown=RAISE)
@blp.response(200, description="A self-contained HTML page (inline CSS, no script) for an `<iframe>`.",
              content_type="text/html")
@blp.alt_response(304, description="Not modified: the `If-None-Match` tag is current.")
@blp.alt_response(404, description="Unknown country (errors of this route are small HTML pages too).",
                  content_type="text/html")
@blp.alt_response(422, description="A query parameter of the wrong type or out of range, as an HTML page.",
                  content_type="text/html")
def impact_html(args: dict[str, Any], code: str) -> Response:
    """The same statements as an embeddable page; any site may frame it (docs/public-api.md)."""
    response = _cacheable(public.render_html(_impact(code, args), _language(args)), "text/html")
    response.headers["Content-Security-Policy"] = public.CONTENT_SECURITY_POLICY
    return response


def _impact(code: str, args: dict[str, Any]) -> public.Impact:
    canonical = public.country_code(code)
    try:
        if canonical is None:
            raise public.UnknownCountry(code)
        impact = public.build_impact(read_session(), canonical, args["year"], args["by"], writer=db.session)
    except public.UnknownCountry as error:
        raise ApiError(404, "not_found", "No country programme has this code.") from error
    with reading_only(read_session()):  # names only: on SQLite beside the writers
        return localize(read_session(), impact, _language(args))


def _language(args: dict[str, Any]) -> str:
    # `?lang=` or Accept-Language only (no cookie): the answer is cached by browsers and proxies.
    return args.get("lang") or i18n.select_locale(use_cookie=False)


def _cacheable(body: bytes, mimetype: str) -> Response:
    """200 with a strong ETag of these bytes, or 304 if the client's copy is current."""
    etag = public.strong_etag(body)
    response = Response(body, mimetype=mimetype)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    if public.etag_matches(request.headers.get("If-None-Match"), etag):
        # A 304 carries the tag the 200 would have carried: the gzip form when it would be gzipped.
        not_modified = _empty(304)
        not_modified.headers["ETag"] = gzip_etag(etag) if will_compress(response) else etag
        not_modified.headers["Cache-Control"] = CACHE_CONTROL
        return not_modified
    return response


def _empty(status: int) -> Response:
    response = Response(status=status)
    del response.headers["Content-Type"]  # no body, so no type (Werkzeug adds text/html by default)
    return response


@blp.before_request
def _preflight() -> Response | None:
    # Answered here for every route of the blueprint: no query to validate, nothing to compute.
    if request.method != "OPTIONS":
        return None
    response = _empty(204)
    response.headers["Allow"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


@blp.after_request
def _cors(response: Response) -> Response:
    """`Access-Control-Allow-Origin` on every answer (errors too, so a page's script can read them)."""
    origins = current_app.config.get("CORS_ORIGINS") or ["*"]
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        # The answer now depends on the Origin header, whether or not this one is allowed.
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    response.vary.add("Accept-Language")  # the text's language follows it when `lang` is not given
    return response
