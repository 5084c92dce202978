"""Coordinators resolve conflicts and quarantined mutations: thin handlers over server/intake/resolution.py."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from schemas.resolution import (
    ApplyRequestSchema,
    DiscardRequestSchema,
    ResolveConflictRequestSchema,
    ResolvedConflictSchema,
    ResolvedQuarantinedSchema,
)
from server.extensions import db
from server.intake import resolution
from server.persistence.timeutil import utcnow
from server.web.auth import ADMIN, COORDINATOR, access, current_principal
from server.web.errors import ApiError

blp = Blueprint("resolution", __name__, url_prefix="/api/v1", description="Review: resolve conflicts and quarantine")


@blp.before_request
def _require_json_body() -> None:
    # As in the accounts blueprint: a form or text body must be a 415, not webargs' 422 "missing field".
    if request.method == "POST" and not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")


# `max`: the ids are 32-bit INTEGER columns; a larger number (or one past SQLite's 64 bits) would
# reach the database and fail as a 500 instead of matching no route (404).
@blp.route("/conflicts/<int(max=2147483647):conflict_id>/resolve", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(ResolveConflictRequestSchema)
@blp.response(200, ResolvedConflictSchema)
@blp.alt_response(404, description="unknown, or outside your countries")
@blp.alt_response(409, description="`already_resolved`, or `record_voided` for `use: device`")
@blp.alt_response(422, description="invalid body, or the device's values no longer pass validation")
def resolve_conflict(args: dict[str, Any], conflict_id: int) -> dict[str, Any]:
    """Keep the server value (`use: server`), or apply the device's fields as a new correction (`use: device`)."""
    return resolution.resolve_conflict(db.session, current_principal(), conflict_id, use=args["use"], now=utcnow())


@blp.route("/quarantine/<int(max=2147483647):quarantine_id>/discard", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(DiscardRequestSchema)
@blp.response(200, ResolvedQuarantinedSchema)
@blp.alt_response(404, description="unknown, or outside your countries")
@blp.alt_response(409, description="`already_resolved`")
def discard_quarantined(args: dict[str, Any], quarantine_id: int) -> dict[str, Any]:
    """Close a quarantined mutation without applying it, with a reason."""
    return resolution.discard_quarantined(
        db.session, current_principal(), quarantine_id, reason=args["reason"], now=utcnow()
    )


@blp.route("/quarantine/<int(max=2147483647):quarantine_id>/apply", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(ApplyRequestSchema)
@blp.response(200, ResolvedQuarantinedSchema)
@blp.alt_response(404, description="unknown, or outside your countries")
@blp.alt_response(409, description="`already_resolved`, or `edit_conflict` (a stale correction) with `current`")
@blp.alt_response(422, description="the fixed mutation is still invalid: messages under `mutation.<path>`")
def apply_quarantined(args: dict[str, Any], quarantine_id: int) -> dict[str, Any]:
    """Apply a fixed version of a quarantined mutation as its device; the row is resolved once applied."""
    return resolution.apply_quarantined(
        db.session, current_principal(), quarantine_id, mutation=args["mutation"], now=utcnow()
    )
