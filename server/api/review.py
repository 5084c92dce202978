"""Coordinator review: `GET /api/v1/conflicts`, `GET /api/v1/quarantine` (and one item as a form), a
record's history."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from schemas.pagination import PageArgsSchema, page_schema
from schemas.review import ConflictSchema, QuarantinedSchema, QuarantineFormSchema, RecordHistorySchema
from server.extensions import db
from server.intake import review
from server.intake.resolution import quarantined_in_scope
from server.operations.quarantine_form import quarantine_form
from server.web.auth import ADMIN, COORDINATOR, access, current_principal
from server.web.errors import ApiError
from server.web.transactions import reads_only

blp = Blueprint("review", __name__, url_prefix="/api/v1", description="Review: conflicts, quarantine, history")


@blp.route("/conflicts", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(ConflictSchema))
@reads_only
def list_conflicts(args: dict[str, Any]) -> dict[str, Any]:
    """Open conflicts of the teams in scope, newest first."""
    return review.conflicts_page(db.session, current_principal(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/quarantine", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(QuarantinedSchema))
@reads_only
def list_quarantine(args: dict[str, Any]) -> dict[str, Any]:
    """Open quarantined mutations (rejected, or from revoked devices) of the teams in scope, newest first."""
    return review.quarantine_page(db.session, current_principal(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/quarantine/<int(max=2147483647):quarantine_id>/form", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.response(200, QuarantineFormSchema)
@blp.alt_response(404, description="unknown, or outside your countries")
@reads_only
def quarantine_item_form(quarantine_id: int) -> dict[str, Any]:
    """One quarantined mutation as a form: each field labelled (English, Arabic), typed, with its value,
    its errors (English, Arabic) and, for choices, the allowed values by name (the team's sites,
    items, services, the domain's codes). Fix it with `POST /quarantine/<id>/apply`."""
    return quarantine_form(db.session, quarantined_in_scope(db.session, current_principal(), quarantine_id))


@blp.route("/records/<record_id>/history", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.response(200, RecordHistorySchema)
@reads_only
def record_history(record_id: str) -> dict[str, Any]:
    """A record at its latest version and every revision (who, when, what changed, why), oldest first."""
    history = review.record_history(db.session, current_principal(), record_id)
    if history is None:
        # Out of scope answers like unknown, so record ids of other countries cannot be probed.
        raise ApiError(404, "not_found", "No such record.")
    return history
