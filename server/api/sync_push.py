"""`POST /api/v1/sync/push`: thin; server/intake/push.py does the work, server/web/http_body.py read the body."""

from __future__ import annotations

from flask import current_app, g, jsonify, request
from flask.wrappers import Response
from flask_smorest import Blueprint

from schemas.sync import PushRequestSchema, PushResponseSchema
from server.extensions import db
from server.intake.push import DeviceRevoked, push_batch
from server.web import metrics
from server.web.auth import DEVICE, access, current_principal, device_revoked_error
from server.web.http_body import json_body, nul_tolerated_within
from sync.domain import DeviceContext

blp = Blueprint("sync_push", __name__, url_prefix="/api/v1/sync", description="Sync: push")


def _device() -> DeviceContext:
    principal = current_principal()
    assert principal.device_id and principal.team_id and principal.countries  # a device principal has all three
    (country,) = principal.countries
    return DeviceContext(device_id=principal.device_id, team_id=principal.team_id, country=country)


@blp.route("/push", methods=["POST"])
@access(DEVICE, allow_revoked_device=True)
@nul_tolerated_within("mutations", otherwise=400)
@blp.doc(
    parameters=[
        {"in": "header", "name": "Idempotency-Key", "required": True, "schema": {"type": "string"},
         "description": "the batch_id of the body; missing or different: 400"},
    ],
    requestBody={"required": True, "content": {"application/json": {"schema": PushRequestSchema}}},
)
@blp.response(200, PushResponseSchema, description="Per-item results in mutation order. A replay carries "
              "`Idempotent-Replayed: true`.")
@blp.alt_response(400, description="malformed envelope (`fields` name the problems) or Idempotency-Key; a body "
                  "with duplicate keys, a lone UTF-16 surrogate or a number outside double range")
@blp.alt_response(403, description="`device_revoked`, with `\"wipe\": true`, whatever the body holds; the "
                  "mutations of a well-formed batch were quarantined")
@blp.alt_response(409, description="`batch_in_flight`: the same key is being processed")
@blp.alt_response(413, description="`payload_too_large`: too many mutations or bytes (after gzip)")
@blp.alt_response(415, description="not application/json, or an unknown Content-Encoding")
@blp.alt_response(422, description="`idempotency_key_reused` with a different body; `schema_unsupported`: "
                  "`schema_version` above the server's `current` (see `GET /sync/hello`), nothing applied")
@blp.alt_response(503, description="`temporarily_unavailable`: database busy, retry after `Retry-After`")
def push() -> Response:
    """Apply a batch of mutations: one transaction, idempotent by batch and by op."""
    try:
        answer = push_batch(
            db.session,
            _device(),
            json_body(required=False),
            idempotency_key=request.headers.get("Idempotency-Key"),
            limits=current_app.config["FIELDSYNC_LIMITS"],
        )
    except DeviceRevoked:
        # The quarantined mutations must survive the error response.
        g.commit_on_error = True
        raise device_revoked_error() from None
    # A Response, not a dict: a replay is the stored body exactly, not re-dumped.
    response = jsonify(answer.body)
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.count_push_outcomes(answer.body.get("results", []))
    return response
