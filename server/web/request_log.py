"""One JSON line per request on the `fieldsync.request` logger, and a request id for each.

    {"ts": "2026-12-01T04:31:07.123Z", "level": "info", "event": "request", "request_id": "9f1c...",
     "method": "GET", "route": "aggregates.get_aggregates", "status": 200, "duration_ms": 12.4, "pid": 4242}

The id is the client's `X-Request-Id` when it is a sane short token (letters, digits, `._-:`, up to
64), so a proxy's or a tablet's id follows the request through; otherwise a new random one. It is
echoed in the response's `X-Request-Id`. The line names the route (the endpoint), not the raw path,
and holds no header, query string or body: no Authorization header, token or enrolment code can
reach the log. A streamed response (line lists) is logged when its headers go out.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, request

HEADER = "X-Request-Id"
_SANE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

logger = logging.getLogger("fieldsync.request")


def request_id() -> str:
    return g.get("request_id") or ""


def _assign_id() -> None:
    supplied = request.headers.get(HEADER, "")
    g.request_id = supplied if _SANE.match(supplied) else uuid.uuid4().hex
    g.request_log_started = time.perf_counter()


def _log(response: Response) -> Response:
    rid = g.get("request_id")
    if rid is None:  # the before_request hook never ran (it is registered first; kept total)
        return response
    response.headers[HEADER] = rid
    started = g.get("request_log_started", time.perf_counter())
    line = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": "info" if response.status_code < 500 else "error",
        "event": "request",
        "request_id": rid,
        "method": request.method,
        "route": request.endpoint or "unmatched",
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "pid": os.getpid(),  # which gunicorn worker
    }
    logger.log(logging.INFO if response.status_code < 500 else logging.ERROR,
               json.dumps(line, separators=(",", ":")))
    return response


def _configure_logger() -> None:
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))  # the message is the JSON line
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def init_app(app: Flask) -> None:
    if app.config.get("REQUEST_LOG", True):
        _configure_logger()
    app.before_request(_assign_id)
    app.after_request(_log)
