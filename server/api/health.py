"""Liveness and readiness probes."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import text

from server.extensions import db
from server.persistence.migrations_state import pending_migrations
from server.web.auth import PUBLIC, access
from server.web.errors import ApiError

blp = Blueprint("health", __name__, description="Liveness and readiness")


@blp.route("/healthz")
@access(PUBLIC)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz")
@access(PUBLIC)
def readyz() -> dict[str, str]:
    """The database is reachable and migrated to the latest revision."""
    try:
        db.session.execute(text("SELECT 1"))
        pending = pending_migrations(db.session.connection())
    except Exception as exc:  # any database failure means "not ready", never a 500
        raise ApiError(503, "not_ready", f"Database not reachable: {type(exc).__name__}") from exc
    if pending:
        raise ApiError(503, "not_ready", "Database migrations are pending: run `flask --app server db-upgrade`.")
    return {"status": "ok"}
