"""`POST /api/v1/teams/<team_id>/collect-devices`: enrol a tablet for ODK Collect (thin)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from schemas.openrosa import CollectDeviceRequestSchema, CollectDeviceResponseSchema
from server.extensions import db
from server.integrations.openrosa.enrolment import CollectDevice, enrol_collect_device
from server.persistence.timeutil import utcnow
from server.web.auth import ADMIN, COORDINATOR, access, current_principal
from server.web.errors import ApiError

blp = Blueprint("collect_devices", __name__, url_prefix="/api/v1", description="ODK Collect enrolment")


@blp.route("/teams/<team_id>/collect-devices", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(CollectDeviceRequestSchema)
@blp.response(201, CollectDeviceResponseSchema)
@blp.alt_response(403, description="the team is in another country")
@blp.alt_response(404, description="unknown team")
@blp.alt_response(415, description="not application/json")
@blp.alt_response(422, description="`username` is not an active field worker of the team")
def enrol(args: dict[str, Any], team_id: str) -> CollectDevice:
    """Enrol a tablet for ODK Collect: its server URL (with its key, shown once), settings and QR code."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    return enrol_collect_device(
        db.session, current_principal(), team_id=team_id, username=args["username"], label=args["label"], now=utcnow()
    )
