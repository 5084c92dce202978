"""Errors of an HTML page answered as a small HTML page (api.md: `impact.html` "answers errors as a
small HTML page, not JSON"): a website frames the page, and a JSON envelope inside its `<iframe>`
is noise to a reader. Same status, same code and messages as the envelope would carry.

A view opts in with `@error_page`; server/web/errors.py asks `page_for_current_view()` before building
the JSON envelope, so every error raised for that view (a query 422, a 404, a NUL in the URL) is
rendered the one way. (A wrong method is not routed to the view: its 405 stays JSON.)
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask import current_app, has_request_context, request
from flask.wrappers import Response
from jinja2 import Environment

F = TypeVar("F", bound=Callable[..., Any])

# Framed by any site like the page itself; nothing may load, not even a style.
CONTENT_SECURITY_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors *"

_TEMPLATE = Environment(autoescape=True, keep_trailing_newline=True).from_string("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<p data-code="{{ code }}">{{ message }}</p>
{%- if fields %}
<ul>
{%- for name, messages in fields %}
<li><code>{{ name }}</code>: {{ messages | join(" ") }}</li>
{%- endfor %}
</ul>
{%- endif %}
</main>
</body>
</html>
""")


def error_page(view: F) -> F:
    """Declare that this view's errors are answered as an HTML page."""
    view._fieldsync_error_page = True  # type: ignore[attr-defined]
    return view


def page_for_current_view() -> bool:
    if not has_request_context() or request.endpoint is None:
        return False
    return bool(getattr(current_app.view_functions.get(request.endpoint), "_fieldsync_error_page", False))


def render(status: int, code: str, message: str, fields: dict[str, list[str]]) -> Response:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    html = _TEMPLATE.render(title=title, code=code, message=message, fields=sorted(fields.items()))
    response = Response(html.encode("utf-8"), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response
