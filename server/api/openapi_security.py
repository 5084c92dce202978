"""OpenAPI additions (issue 15): the bearer security scheme on every route that needs a token, as
each view's `@access` declaration says, so `/api/docs` can authorise and call the API; and the
CSV representation of `/aggregates`.

Run once, after every blueprint is registered: it reads the declarations, never guesses.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_smorest import Api

from server.web.auth import DEVICE, PUBLIC

SCHEME = "bearerAuth"
_CONVERTER = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def document_security(app: Flask, api: Api) -> None:
    api.spec.components.security_scheme(SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "A coordinator's or admin's token from `POST /api/v1/auth/token` (`fsu_...`), or a "
                       "tablet's device token from `POST /api/v1/devices/enroll` (`fsd_...`) for the sync routes.",
    })
    paths: dict[str, dict[str, Any]] = api.spec._paths  # apispec keeps the registered paths here
    for rule in app.url_map.iter_rules():
        operations = paths.get(_CONVERTER.sub(r"{\1}", rule.rule))
        declaration = getattr(app.view_functions.get(rule.endpoint), "_fieldsync_access", None)
        if operations is None or declaration is None:
            continue
        public = PUBLIC in declaration.audiences
        who = ", ".join(sorted(declaration.audiences - {PUBLIC}))
        for method in rule.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            operation["security"] = [] if public else [{SCHEME: []}]
            if not public:
                operation.setdefault("responses", {}).setdefault(
                    "401", {"description": "No, expired or invalid token (`unauthorized`, `invalid_token`)"})
                operation["responses"].setdefault(
                    "403", {"description": f"Allowed to: {who}" + ("; a revoked device gets `device_revoked`"
                                                                  if DEVICE in declaration.audiences else "")})
    _document_csv(paths)
    _document_error_bodies(paths)


def _document_error_bodies(paths: dict[str, dict[str, Any]]) -> None:
    """Every error response has the envelope as its body (issue 29 item 7): the ones declared with only a
    description (`alt_response(403, description=...)`, the 401/403 above) said nothing of their body."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in paths.values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if str(status).isdigit() and int(status) >= 400 and "$ref" not in response \
                        and "content" not in response:
                    response["content"] = error


def _document_csv(paths: dict[str, dict[str, Any]]) -> None:
    get = paths.get("/api/v1/aggregates", {}).get("get")
    if get is None:
        return
    ok = get.setdefault("responses", {}).setdefault("200", {"description": "OK"})
    ok.setdefault("content", {})["text/csv"] = {
        "schema": {"type": "string"},
        "example": "area,area_name,value\nly-tripoli,Tripoli,1234\n",
        "description": "With `Accept: text/csv` or `format=csv`: the `group_by` columns (with `<dim>_name` "
                       "columns) then `value`, one line per JSON row; `format=hxl` adds an HXL hashtag row.",
    }
