"""Sync, device side of the read path: `GET /api/v1/sync/hello` and `GET /api/v1/sync/pull`.

Thin: parse, check the cursor, ask server.operations.pull for a page, sign the next cursor.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.wrappers import Response
from flask_smorest import Blueprint

from schemas.sync import HelloResponseSchema, PullQuerySchema, PullResponseSchema
from server.extensions import db
from server.models import Device
from server.operations.pull import ResetRequired, Scope, check_cursor, pull_page
from server.operations.quarantine_stream import QUARANTINE, quarantine_page
from server.operations.signing import cursor_key
from server.persistence.timeutil import aware_utc, utcnow
from server.web.auth import DEVICE, access, current_principal
from server.web.errors import ApiError, validation_error
from server.web.transactions import reads_only
from sync.cursor import Cursor, decode_cursor, encode_cursor
from sync.domain import CURRENT_SCHEMA_VERSION, MIN_SUPPORTED_SCHEMA_VERSION
from sync.errors import InvalidCursor

SCHEMA_VERSIONS = {"min_supported": MIN_SUPPORTED_SCHEMA_VERSION, "current": CURRENT_SCHEMA_VERSION}

blp = Blueprint("sync_pull", __name__, url_prefix="/api/v1/sync", description="Sync: hello and pull")


def _reset_required(message: str) -> ApiError:
    return ApiError(410, "reset_required", message + " Push what you hold, then pull from an empty cursor.")


def _device_scope() -> Scope:
    principal = current_principal()
    assert principal.team_id is not None and principal.countries  # a device principal always has both
    (country,) = principal.countries
    return Scope(team_id=principal.team_id, country=country)


@blp.route("/hello")
@access(DEVICE)
@blp.response(200, HelloResponseSchema)
@reads_only
def hello() -> dict[str, Any]:
    """Who this device is, the schema versions and the sync limits."""
    device = db.session.get(Device, current_principal().device_id)
    assert device is not None  # authentication just found it
    limits = current_app.config["FIELDSYNC_LIMITS"]
    return {
        # Aware, as HelloResponseSchema dumps it (the same field type as push's server_time).
        "server_time": aware_utc(utcnow().replace(microsecond=0)),
        "device": {"id": device.id, "status": device.status, "team_id": device.team_id},
        "schema": SCHEMA_VERSIONS,
        "limits": {"push_max_mutations": limits.push_max_mutations, "push_max_bytes": limits.push_max_bytes,
                   "pull_max_limit": limits.pull_max_limit},
    }


@blp.route("/pull")
@access(DEVICE)
@blp.arguments(PullQuerySchema, location="query", as_kwargs=True)
@blp.response(200, PullResponseSchema)
# Only reads: on SQLite a snapshot beside the writer (commit order = seq order, so a page read from it
# misses nothing a later page would), not a turn at the write lock behind pushes.
@reads_only
def pull(stream: str, cursor: str | None, limit: int) -> Response:
    """Changes of one stream strictly after the cursor, in seq order.

    `reference`: the device's country's reference data; `records`: its team's records;
    `quarantine`: the mutations this device sent that wait in quarantine, with their `reason`,
    `errors` and `state` (`open`, `applied`, `discarded`).
    """
    # The schema's range documents the default limits; the configured maximum is the one enforced.
    max_limit = current_app.config["FIELDSYNC_LIMITS"].pull_max_limit
    if limit > max_limit:
        message = f"Must be greater than or equal to 1 and less than or equal to {max_limit}."
        raise validation_error({"limit": [message]})
    scope = _device_scope()
    after = _decode(cursor)
    try:
        after_seq = check_cursor(db.session, after, stream=stream, scope=scope)
    except ResetRequired:
        raise _reset_required("This cursor can no longer be served (scope changed or history pruned).") from None
    if stream == QUARANTINE:  # the device's own quarantined mutations (server/operations/quarantine_stream.py)
        device_id = current_principal().device_id
        assert device_id is not None  # a device principal
        page = quarantine_page(db.session, device_id=device_id, after_seq=after_seq, limit=limit)
    else:
        page = pull_page(db.session, stream=stream, scope=scope, after_seq=after_seq, limit=limit)
    # Already in wire shape: returning a Response skips the schema dump (documentation only here),
    # which took as long as reading the page from the database.
    return jsonify({"stream": stream, "changes": page.changes, "has_more": page.has_more,
                    "next_cursor": encode_cursor(page.next_cursor(scope), cursor_key())})


def _decode(token: str | None) -> Cursor | None:
    # `cursor=` (empty) is the initial pull, as api.md's reset advice ("pull from an empty cursor") reads.
    if not token:
        return None
    try:
        return decode_cursor(token, cursor_key())
    except InvalidCursor:
        # 410, not 400: a cursor signed with a previous SECRET_KEY (a restart without one configured,
        # a key rotation) looks exactly like a forged one, and the client's only remedy is a reset.
        raise _reset_required("This cursor is not valid on this server.") from None
