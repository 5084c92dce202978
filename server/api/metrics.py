"""`GET /metrics`: Prometheus text (server/web/metrics.py). Public by contract; restrict it at the proxy."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from server.web import metrics
from server.web.auth import PUBLIC, access
from server.web.transactions import reads_only

blp = Blueprint("metrics", __name__, description="Operations: Prometheus metrics")


@blp.route("/metrics")
@access(PUBLIC)  # api.md: public; production restricts it at the reverse proxy
@blp.doc(responses={"200": {"description": "Prometheus text exposition format 0.0.4",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
@reads_only
def get_metrics() -> Response:
    """Request latency by route, push outcomes, quarantine size, seconds since each team's last sync."""
    return metrics.response()
