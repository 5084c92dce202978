"""The one error envelope of api.md, whatever raised the error.

`{"error": {"code", "message", "fields"}}`: `code` is stable snake_case for clients to branch on.
Handlers raise `ApiError` (or let Werkzeug/webargs raise); nothing builds error bodies by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.wrappers import Response
from werkzeug.exceptions import HTTPException

from schemas.errors import flatten_messages
from server.web import error_pages

log = logging.getLogger(__name__)

# Stable codes for the HTTP errors Werkzeug raises on its own (routing, body parsing).
HTTP_CODES: dict[int, str] = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


class ApiError(Exception):
    """An error answered with the envelope. `extra` adds top-level keys (e.g. `"wipe": true`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}
        self.extra = extra or {}


def validation_error(fields: dict[str, list[str]], message: str = "The request is not valid.") -> ApiError:
    return ApiError(422, "validation_failed", message, fields)


# webargs nests messages under the request location; clients want the field path only.
_LOCATIONS = {"json", "query", "querystring", "form", "headers", "files", "view_args", "path"}


def _webargs_fields(messages: Any) -> dict[str, list[str]]:
    if isinstance(messages, dict) and messages and set(messages) <= _LOCATIONS:
        merged: dict[str, list[str]] = {}
        for location_messages in messages.values():
            merged.update(flatten_messages(location_messages))
        return merged
    return flatten_messages(messages)


def envelope(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None,
             extra: dict[str, Any] | None = None) -> Response:
    if error_pages.page_for_current_view():  # an HTML page's errors are a page (server/web/error_pages.py)
        return error_pages.render(status, code, message, fields or {})
    body: dict[str, Any] = {"error": {"code": code, "message": message, "fields": fields or {}}}
    body.update(extra or {})
    response = jsonify(body)
    response.status_code = status
    return response


def _handle_api_error(error: ApiError) -> Response:
    response = envelope(error.status, error.code, error.message, error.fields, error.extra)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    fields = _webargs_fields(messages) if messages else {}
    if status == 422 and fields:
        response = envelope(422, "validation_failed", "The request is not valid.", fields)
    elif status == 400:
        response = envelope(400, "malformed_request", "The request body or parameters could not be read.", fields)
    else:
        code = HTTP_CODES.get(status, "http_error" if status < 500 else "internal_error")
        message = error.description if status < 500 else "The server could not complete the request."
        response = envelope(status, code, message or code, fields)
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    # webargs passes `headers=None` with its 422s: a present-but-None key must not become a 500.
    for name, value in ((data.get("headers") if isinstance(data, dict) else None) or {}).items():
        response.headers[name] = value
    return response


def _handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return envelope(500, "internal_error", "The server could not complete the request.")


def init_app(app: Flask) -> None:
    """Register after flask-smorest, so these handlers replace its HTTPException handler."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
