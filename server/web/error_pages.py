"""Errors of an HTML page answered as a small HTML page (api.md: `impact.html` "answers errors as a
small HTML page, not JSON"): a website frames the page, and a JSON envelope inside its `<iframe>`
is noise to a reader. Same status, same code and messages as the envelope would carry.

A view opts in with `@error_page`; server/web/errors.py asks `page_for_current_view()` before building
the JSON envelope, so every error raised for that view (a query 422, a 404, a NUL in the URL) is
rendered the one way. (A wrong method is not routed to the view: its 405 stays JSON.)

A part of the site whose addresses are all pages a person reads (the dashboard) registers its own
renderer for its path prefix with `register_prefix`: any error under it, an unknown address
included (which no view sees), is then that part's page (api.md v1.2: "a browser path under
`/dashboard` that does not exist → an HTML page in the dashboard's language").

The page is in the request's language (`?lang=`, then Accept-Language; no cookie, like the public
page it stands for) and styled by its own inline stylesheet, the only thing its CSP lets load.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, has_request_context, request
from flask.wrappers import Response
from flask_babel import force_locale, gettext
from jinja2 import Environment
from markupsafe import Markup

from server.web import i18n
from server.web.i18n import N_

F = TypeVar("F", bound=Callable[..., Any])

Renderer = Callable[[int, str, str, dict[str, list[str]]], Response]

_STYLE = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
body{margin:0;padding:1rem;color:#1a1a1a;background:#fff;line-height:1.5}
h1{font-size:1.1rem;margin:0 0 .5rem;color:#0b4f8a}
p{margin:0 0 .5rem;max-width:40rem}
ul{margin:.25rem 0 0;padding-inline-start:1.25rem}
code{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f1f3f5;padding:0 .2em;border-radius:3px}
.detail{font-size:.9rem;color:#4a4a4a}
""".strip()
# Framed by any site like the page itself; nothing may load but this very stylesheet.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'; frame-ancestors *"
)

_TEMPLATE = Environment(autoescape=True, keep_trailing_newline=True).from_string("""<!doctype html>
<html lang="{{ lang }}" dir="{{ dir }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<p data-code="{{ code }}">{{ message }}</p>
{%- if fields %}
<ul class="detail">
{%- for name, messages in fields %}
<li><code dir="ltr">{{ name }}</code>: {{ messages | join(" ") }}</li>
{%- endfor %}
</ul>
{%- endif %}
</main>
</body>
</html>
""")


# What a reader is told, by status (the English message of the envelope stays in English pages).
TITLES = {
    400: N_("The address could not be read"),
    404: N_("Not found"),
    405: N_("This action is not possible here"),
    422: N_("This address asks for something the page cannot show"),
    429: N_("Too many requests: wait a minute, then try again"),
}
FALLBACK_TITLE = N_("Something went wrong")
# An Arabic reader gets these instead of the API's English sentences (which name fields in English).
MESSAGES = {
    400: N_("Check the address and try again."),
    404: N_("Nothing is published at this address. Check the country code in the address."),
    422: N_("A value in the address is not accepted. Check the year (2000 or later) and the other values."),
}
FIELD_MESSAGE = N_("This value is not accepted.")
FALLBACK_MESSAGE = N_("The server could not complete the request. Try again later.")

_PREFIXES: dict[str, Renderer] = {}


def register_prefix(prefix: str, renderer: Renderer) -> None:
    """Every error under `prefix` (e.g. "/dashboard") is answered by `renderer`, as an HTML page."""
    _PREFIXES[prefix.rstrip("/")] = renderer


def _prefix_renderer() -> Renderer | None:
    if not has_request_context():
        return None
    for prefix, renderer in _PREFIXES.items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return renderer
    return None


def error_page(view: F) -> F:
    """Declare that this view's errors are answered as an HTML page."""
    view._fieldsync_error_page = True  # type: ignore[attr-defined]
    return view


def page_for_current_view() -> bool:
    if _prefix_renderer() is not None:
        return True
    if not has_request_context() or request.endpoint is None:
        return False
    return bool(getattr(current_app.view_functions.get(request.endpoint), "_fieldsync_error_page", False))


def render(status: int, code: str, message: str, fields: dict[str, list[str]]) -> Response:
    renderer = _prefix_renderer()
    if renderer is not None:
        return renderer(status, code, message, fields)
    language = i18n.select_locale(use_cookie=False) if has_request_context() else "en"
    with force_locale(language):
        title = gettext(TITLES.get(status, FALLBACK_TITLE))
        if language == "en":
            shown, shown_fields = message, sorted(fields.items())
        else:
            shown = gettext(MESSAGES.get(status, FALLBACK_MESSAGE))
            shown_fields = [(name, [gettext(FIELD_MESSAGE)]) for name in sorted(fields)]
        html = _TEMPLATE.render(lang=language, dir=i18n.text_direction(language), title=title, code=code,
                                message=shown, fields=shown_fields, style=Markup(_STYLE))
    response = Response(html.encode("utf-8"), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response
