"""Webhooks (api.md v1.2): thin handlers over server/integrations/webhooks/service.py; the request's transaction
hook commits. Coordinators manage the webhooks of their own countries, admins any."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from schemas import webhooks as s
from schemas.pagination import page_schema
from server.extensions import db
from server.integrations.webhooks import service
from server.operations.audit import actor_of
from server.persistence.timeutil import utcnow
from server.web.auth import ADMIN, COORDINATOR, access, current_principal
from server.web.errors import ApiError
from server.web.transactions import reads_only

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1",
                description="Webhooks: Standard Webhooks deliveries of record changes to other systems")

_NOT_FOUND = "`not_found`: no such webhook in your countries"


@blp.before_request
def _require_json_body() -> None:
    # As the admin blueprint: a form or text body is a 415, not a 422 "missing field".
    if request.method == "POST" and (request.content_length or request.mimetype) and not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")


@blp.route("/webhooks", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.WebhookCreateSchema)
@blp.response(201, s.WebhookCreatedSchema)
@blp.alt_response(403, description="`out_of_scope`: a country outside yours")
def create_webhook(args: dict[str, Any]) -> dict[str, Any]:
    """Register a receiver for record events of `countries`. The answer holds the signing secret,
    shown this once. 422 names `url` when it is not https (or http to an allowed host), or resolves to
    a loopback, private or link-local address."""
    principal = current_principal()
    return service.create(db.session, principal, actor_of(principal), args, utcnow())


@blp.route("/webhooks", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.response(200, page_schema(s.WebhookSchema))
@reads_only
def list_webhooks() -> dict[str, Any]:
    """The webhooks of your countries (never their secrets), by id."""
    return service.listing(db.session, current_principal(), {})


@blp.route("/webhooks/<int:hook_id>", methods=["DELETE"])
@access(COORDINATOR, ADMIN)
@blp.response(204)
@blp.alt_response(404, description=_NOT_FOUND)
def delete_webhook(hook_id: int) -> None:
    """Remove a webhook and its queued events; audited."""
    principal = current_principal()
    service.remove(db.session, principal, actor_of(principal), hook_id, utcnow())


@blp.route("/webhooks/<int:hook_id>/deliveries", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.DeliveryArgsSchema, location="query")
@blp.response(200, page_schema(s.DeliverySchema))
@blp.alt_response(404, description=_NOT_FOUND)
@reads_only
def list_deliveries(args: dict[str, Any], hook_id: int) -> dict[str, Any]:
    """The webhook's events, newest first, with their status (`pending`, `delivered`, `failed`), attempts
    and last answer; `status` filters."""
    return service.deliveries(db.session, current_principal(), hook_id, args)


@blp.route("/webhooks/<int:hook_id>/deliveries/<delivery_id>/retry", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(202)
@blp.alt_response(404, description=_NOT_FOUND)
@blp.alt_response(409, description="`already_delivered`: the delivery succeeded")
def retry_delivery(hook_id: int, delivery_id: str) -> None:
    """Send a failed delivery again (queued at once, with a fresh retry window)."""
    service.retry(db.session, current_principal(), hook_id, delivery_id, utcnow())
