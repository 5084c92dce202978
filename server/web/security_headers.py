"""Security headers on every response, in one after_request hook (so no route can forget them).

- `X-Content-Type-Options: nosniff`: a JSON body that echoes client input is never sniffed as HTML.
- `Referrer-Policy: no-referrer`: URLs carry filters and ids that no other site needs.
- Framing is refused (`X-Frame-Options: DENY` for old browsers, CSP `frame-ancestors 'none'` for new
  ones): nothing here may be clickjacked, except the public impact fragment
  (`/public/v1/countries/<code>/impact.html`), which exists to be pasted into the website in an
  `<iframe>`. A CSP a view sets itself (the dashboard's) is kept; otherwise non-HTML responses get
  `default-src 'none'` too, since an API answer has no business loading anything.
- `Cache-Control: no-store` on every response to a request that carried credentials, whatever the
  view said: a shared cache must never keep one caller's data for another. Responses that set no
  caching policy get `no-store` as well, which covers the two public routes that hand out secrets
  (`POST /auth/token`, `POST /devices/enroll`) and every error. Public views that want caching
  (the impact JSON, static assets) say so themselves and keep it.

HSTS is not set here: the app speaks plain HTTP behind the TLS-terminating proxy, which owns the
domain's HTTPS policy (an app-set `includeSubDomains` could break sibling hosts it knows nothing of).
"""

from __future__ import annotations

from flask import Flask, g, request
from flask.wrappers import Response

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
DENY_FRAMING_CSP = "frame-ancestors 'none'"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
NO_STORE = "no-store"


def embeddable(path: str) -> bool:
    """The public impact fragment is made to be framed by the organisation's website."""
    return path.startswith("/public/") and path.endswith("/impact.html")


def _authenticated() -> bool:
    principal = g.get("principal")
    return "Authorization" in request.headers or (principal is not None and principal.kind != "anonymous")


def add_security_headers(response: Response) -> Response:
    for name, value in BASE_HEADERS.items():
        response.headers[name] = value
    if not embeddable(request.path):
        response.headers["X-Frame-Options"] = "DENY"
        if "Content-Security-Policy" not in response.headers:
            html = response.mimetype == "text/html"
            # HTML pages without their own policy (the API docs) may load their own assets.
            response.headers["Content-Security-Policy"] = DENY_FRAMING_CSP if html else API_CSP
    if _authenticated() or "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = NO_STORE
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
