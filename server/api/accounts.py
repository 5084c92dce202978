"""Accounts and devices (api.md "Accounts and devices"): thin handlers over server/operations/accounts.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import current_app, g, request
from flask_smorest import Blueprint

from schemas.accounts import (
    DeviceSchema,
    EnrollDeviceRequestSchema,
    EnrollDeviceResponseSchema,
    EnrollmentRequestSchema,
    EnrollmentResponseSchema,
    TeamSchema,
    TokenRequestSchema,
    TokenResponseSchema,
)
from schemas.pagination import PageArgsSchema, page_schema
from server.extensions import db
from server.operations import accounts
from server.persistence.timeutil import utcnow
from server.web.auth import ADMIN, COORDINATOR, PUBLIC, access, current_principal, revoke_user_token
from server.web.errors import ApiError
from server.web.ratelimit import client_address
from server.web.transactions import reads_only

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts, teams and devices")


@blp.before_request
def _require_json_body() -> None:
    # webargs reads a form or text body as "no JSON" and answers 422 "missing field"; api.md says a
    # wrong content type is a 415. A body-less POST (revoke) needs no content type.
    if request.method == "POST" and (request.content_length or request.mimetype) and not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")


@contextmanager
def _keep_writes_on(status: int) -> Iterator[None]:
    """Commit what was written even though the request answers `status` (a recorded failure),
    but not on any other error: an unexpected one must still roll everything back."""
    try:
        yield
    except ApiError as error:
        if error.status == status:
            g.commit_on_error = True
        raise


def _client_address() -> str:
    # Behind TRUSTED_PROXIES reverse proxies, the client as the outermost of them saw it.
    return client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), int(current_app.config["TRUSTED_PROXIES"])
    )


@blp.route("/auth/token", methods=["POST"])
@access(PUBLIC)
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenResponseSchema)
@blp.alt_response(401, description="`invalid_credentials`: unknown user or wrong password (one answer)")
@blp.alt_response(403, description="`role_not_allowed`: field workers sync through enrolled devices")
@blp.alt_response(429, description="`rate_limited`: wait `Retry-After` seconds (grows with repeated failures)")
def issue_token(args: dict[str, Any]) -> accounts.IssuedToken:
    """Exchange a coordinator's or admin's username and password for a bearer token.

    Wrong credentials: 401 `invalid_credentials` (unknown user or wrong password alike). Field
    workers: 403 `role_not_allowed` (they sync through enrolled devices). After repeated failures
    (per username and client address, then per username, then per address) the next attempt must
    wait a growing delay: 429 `rate_limited` with `Retry-After` (seconds).
    """
    # The failure recorded before the 401 must be committed, or nothing would ever be rate-limited.
    with _keep_writes_on(401):
        return accounts.issue_user_token(
            db.session,
            username=args["username"],
            password=args["password"],
            address=_client_address(),
            ttl=timedelta(hours=int(current_app.config["TOKEN_TTL_HOURS"])),
            now=utcnow(),
        )


@blp.route("/auth/logout", methods=["POST"])
# Every user token that is ever issued (field workers get none: they sync through devices, and a
# field worker's token opens nothing, tests/server/web/test_security_routes.py).
@access(COORDINATOR, ADMIN)
@blp.response(204, description="The token is revoked: it gets 401 `token_revoked` from now on.")
@blp.alt_response(401, description="no valid token (already logged out, expired or unknown)")
def logout() -> None:
    """Revoke the bearer token this request carries (any user token). No body."""
    revoke_user_token(current_principal(), utcnow())


@blp.route("/teams", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(TeamSchema))
@reads_only
def list_teams(args: dict[str, Any]) -> dict[str, Any]:
    """The teams in the caller's countries, ordered by id."""
    return accounts.teams_page(db.session, current_principal(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/teams/<team_id>/enrollments", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(EnrollmentRequestSchema)
@blp.response(201, EnrollmentResponseSchema)
def create_enrollment(args: dict[str, Any], team_id: str) -> accounts.IssuedCode:
    """A one-time enrollment code (24 h) for a field worker of this team."""
    return accounts.create_enrollment_code(
        db.session, current_principal(), team_id=team_id, username=args["username"], now=utcnow()
    )


@blp.route("/devices/enroll", methods=["POST"])
@access(PUBLIC)
@blp.arguments(EnrollDeviceRequestSchema)
@blp.response(201, EnrollDeviceResponseSchema)
@blp.alt_response(401, description="`invalid_enrollment_code`: unknown, used or expired")
@blp.alt_response(429, description="`rate_limited`: too many wrong codes from this address; see `Retry-After`")
def enroll_device(args: dict[str, Any]) -> accounts.NewDevice:
    """Enroll a tablet with a one-time code; the device token is in this response only.

    An unknown, used or expired code: 401 `invalid_enrollment_code`; repeated wrong codes from one
    client address: 429 `rate_limited`, wait `Retry-After` seconds (grows with each failure).
    """
    with _keep_writes_on(401):  # keep the recorded failure of a wrong code
        return accounts.enroll_device(
            db.session,
            code=args["code"],
            label=args["label"],
            app_version=args["app_version"],
            address=_client_address(),
            now=utcnow(),
        )


@blp.route("/devices", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(DeviceSchema))
@reads_only
def list_devices(args: dict[str, Any]) -> dict[str, Any]:
    """The devices in the caller's countries, newest enrollment first."""
    return accounts.devices_page(db.session, current_principal(), limit=args["limit"], cursor=args["cursor"])


@blp.route("/devices/<device_id>/revoke", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, DeviceSchema)
def revoke_device(device_id: str) -> dict[str, Any]:
    """Revoke a device: its token gets 403 `device_revoked` with `"wipe": true` from now on.

    Records it pushed earlier stay. Revoking a revoked device is a no-op.
    """
    return accounts.revoke_device(db.session, current_principal(), device_id=device_id, now=utcnow())
