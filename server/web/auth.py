"""Authentication and authorization, in one place.

Every view declares who may call it with `@access(...)`; `check_declarations` refuses to start
an app with an undeclared route, and `authenticate` (a before_request hook) enforces the
declaration before any handler runs. Handlers then read `current_principal()` for scope.

Tokens are random and opaque, stored only as SHA-256 hashes (they carry 256 bits of entropy, so a
slow KDF adds nothing); a prefix tells user tokens from device tokens.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, g, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import ApiToken, Device, Team, User
from server.persistence.timeutil import utcnow
from server.web.errors import ApiError
from server.web.transactions import reading_only

# Re-exported: the views declare who may call them with these names.
from sync.codes import ADMIN as ADMIN
from sync.codes import COORDINATOR as COORDINATOR
from sync.codes import FIELD_WORKER as FIELD_WORKER
from sync.codes import ROLES as ROLES

PUBLIC = "public"
DEVICE = "device"
# A device whose token is the `key` in the URL instead of a header: OpenRosa clients (ODK Collect)
# are given one server URL and send no credentials of their own (openrosa.md).
DEVICE_KEY = "device_key"
_AUDIENCES = {PUBLIC, DEVICE, DEVICE_KEY, *ROLES}

USER_TOKEN_PREFIX = "fsu_"
DEVICE_TOKEN_PREFIX = "fsd_"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Access:
    audiences: frozenset[str]
    allow_revoked_device: bool = False


def access(*audiences: str, allow_revoked_device: bool = False) -> Callable[[F], F]:
    """Declare who may call a view: `public`, `device`, `device_key`, `field_worker`, `coordinator`, `admin`."""
    unknown = set(audiences) - _AUDIENCES
    if not audiences or unknown:
        raise ValueError(f"access() needs audiences from {sorted(_AUDIENCES)}, got {audiences}")

    def decorate(view: F) -> F:
        view._fieldsync_access = Access(frozenset(audiences), allow_revoked_device)  # type: ignore[attr-defined]
        return view

    return decorate


def mark_public(app: Flask, endpoints: Iterable[str]) -> None:
    """Declare third-party views (e.g. the OpenAPI document) public."""
    for endpoint in endpoints:
        view = app.view_functions.get(endpoint)
        if view is not None:
            # Wrapped, because a bound method (as flask-smorest registers) takes no attributes.
            app.view_functions[endpoint] = access(PUBLIC)(functools.wraps(view)(_delegate(view)))


def _delegate(view: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return call


def check_declarations(app: Flask) -> None:
    """Refuse to run an app where some route does not say who may call it."""
    undeclared = sorted(
        endpoint for endpoint, view in app.view_functions.items() if not hasattr(view, "_fieldsync_access")
    )
    if undeclared:
        raise RuntimeError(f"routes without an @access declaration: {', '.join(undeclared)}")


@dataclass(frozen=True)
class Principal:
    """Who is calling. `countries is None` means every country (admins)."""

    kind: str  # "user" | "device" | "anonymous"
    role: str | None = None
    user_id: int | None = None
    username: str | None = None
    device_id: str | None = None
    team_id: str | None = None
    countries: frozenset[str] | None = field(default_factory=frozenset)
    # A revoked device let through to a route that keeps what it sends (push): it is still answered
    # 403 device_revoked + wipe, whatever its request holds (server/web/http_body.py, server/intake/push.py).
    revoked: bool = False
    token_id: int | None = None  # the user token this request came with (logout revokes it)

    def can_see_country(self, code: str) -> bool:
        return self.countries is None or code in self.countries

    def require_country(self, code: str) -> None:
        if not self.can_see_country(code):
            raise ApiError(403, "out_of_scope", f"You may not access country {code}.")


ANONYMOUS = Principal(kind="anonymous")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def current_principal() -> Principal:
    return g.get("principal", ANONYMOUS)


def revoke_user_token(principal: Principal, now: datetime) -> None:
    """Log out: the caller's own user token is refused from now on (flushed, not committed)."""
    if principal.kind != "user" or principal.token_id is None:
        raise ApiError(403, "forbidden", "Only a user token can be logged out.")
    token = db.session.get(ApiToken, principal.token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = now
        db.session.flush()


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(code: str = "unauthorized", message: str = "A valid bearer token is required.") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="fieldsync"'})


def device_revoked_error() -> ApiError:
    return ApiError(403, "device_revoked", "This device has been revoked.", extra={"wipe": True})


def _user_principal(token: str) -> Principal:
    now = utcnow()
    with reading_only(db.session()):
        row = db.session.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_secret(token))
        ).first()
        if row is None:
            raise _unauthorized("invalid_token", "The token is not valid.")
        api_token, user = row
        if api_token.revoked_at is not None:
            raise _unauthorized("token_revoked", "This token was logged out; ask for a new one.")
        if api_token.expires_at <= now:
            raise _unauthorized("token_expired", "The token has expired; ask for a new one.")
        if not user.active:
            raise _unauthorized("invalid_token", "The token is not valid.")
        countries = None if user.role == ADMIN else frozenset(user.countries)
        return Principal(kind="user", role=user.role, user_id=user.id, username=user.username,
                         team_id=user.team_id, countries=countries, token_id=api_token.id)


_DEVICES = Device.__table__
_TEAMS = Team.__table__
# Built once: a device request's authentication is one indexed lookup, and building the statement
# (and loading ORM objects) cost more than the query itself.
_DEVICE_BY_TOKEN = (
    select(_DEVICES.c.id, _DEVICES.c.team_id, _DEVICES.c.user_id, _DEVICES.c.status, _DEVICES.c.last_seen_at,
           _TEAMS.c.country_code, _TEAMS.c.active.label("team_active"))
    .join(_TEAMS, _TEAMS.c.id == _DEVICES.c.team_id)
    .where(_DEVICES.c.token_hash == bindparam("token_hash"))
)
# Built once, one per set of columns a touch writes.
_TOUCH = {
    columns: update(_DEVICES).where(_DEVICES.c.id == bindparam("device_key"))
    .values({name: bindparam(name) for name in columns})
    for columns in (("last_seen_at",), ("app_version",), ("last_seen_at", "app_version"))
}
APP_VERSION_MAX = 32  # devices.app_version


def seen_long_ago(last_seen_at: datetime | None, now: datetime) -> bool:
    """Whether a device's `last_seen_at` is due a write: at most once a minute, so a tablet's
    backlog of requests (pulls, batches, submissions) does not rewrite its device row each time."""
    return last_seen_at is None or now - last_seen_at > timedelta(minutes=1)


def touch_device(session: Session, device_id: str, *, now: datetime, last_seen_at: datetime | None,
                 app_version: str | None = None, stored_app_version: str | None = None) -> bool:
    """The one writer of a device's `last_seen_at` (when due, `seen_long_ago`; `now` is naive UTC)
    and of its `app_version` (when the tablet says it runs another one: a push's envelope, Collect's
    User-Agent); given what the caller read of them. One UPDATE, or none; True if it wrote."""
    values: dict[str, Any] = {}
    if seen_long_ago(last_seen_at, now):
        values["last_seen_at"] = now
    if app_version and app_version[:APP_VERSION_MAX] != stored_app_version:
        values["app_version"] = app_version[:APP_VERSION_MAX]
    if values:
        session.execute(_TOUCH[tuple(values)], {"device_key": device_id, **values})
    return bool(values)


def _device_principal(token: str, allow_revoked: bool) -> Principal:
    # The write paths (push, submission) read the device's status again in their own transaction,
    # so a revocation committed after this lookup is still honoured.
    with reading_only(db.session()):
        device = db.session.execute(_DEVICE_BY_TOKEN, {"token_hash": hash_secret(token)}).first()
    if device is None:
        raise _unauthorized("invalid_token", "The token is not valid.")
    if device.status != "active" and not allow_revoked:
        raise device_revoked_error()
    if device.status == "active" and device.team_active is False and request.method not in ("GET", "HEAD", "OPTIONS"):
        # A deactivated team's tablets count nothing (issue 29 item 9, docs/reliability.md): their writes
        # are refused without a wipe, so each tablet keeps what it has not sent and sends it if the team is
        # activated again; reads go on (the tablet still learns of reference changes).
        raise ApiError(403, "team_inactive", "This team is deactivated: nothing is counted for it. "
                                             "Your tablet keeps what it has not sent; ask your coordinator.")
    now = utcnow()
    # Only touch last_seen_at once a minute, so pulls stay (almost) read-only. The touch is its own
    # short transaction, committed here: the request's body is read next, and a body that trickles
    # in (chunked, over a 2G link) must not be read while this write holds SQLite's one write lock
    # (every other tablet's push waited for it). It records that the tablet was heard from, whatever
    # the request turns out to be.
    if device.status == "active" and touch_device(db.session(), device.id, now=now, last_seen_at=device.last_seen_at):
        db.session.commit()
    return Principal(kind="device", role=DEVICE, device_id=device.id, team_id=device.team_id,
                     user_id=device.user_id, countries=frozenset({device.country_code}),
                     revoked=device.status != "active")


def authenticate() -> None:
    """before_request: enforce the view's declaration."""
    if request.method == "OPTIONS" or request.endpoint is None:
        return
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint)
    declaration: Access | None = getattr(view, "_fieldsync_access", None)
    if declaration is None:  # check_declarations makes this unreachable; fail closed anyway
        raise ApiError(403, "forbidden", "This route is not available.")
    if PUBLIC in declaration.audiences:
        return
    if DEVICE_KEY in declaration.audiences:
        key = (request.view_args or {}).get("key")
        g.principal = _device_principal(str(key or ""), declaration.allow_revoked_device)
        return
    token = _bearer_token()
    if token is None:
        raise _unauthorized()
    if token.startswith(DEVICE_TOKEN_PREFIX):
        principal = _device_principal(token, declaration.allow_revoked_device)
        if DEVICE not in declaration.audiences:
            raise ApiError(403, "forbidden", "Devices may not call this route.")
    elif token.startswith(USER_TOKEN_PREFIX):
        principal = _user_principal(token)
        if principal.role not in declaration.audiences:
            raise ApiError(403, "forbidden", "Your role may not call this route.")
    else:
        raise _unauthorized("invalid_token", "The token is not valid.")
    g.principal = principal


def init_app(app: Flask) -> None:
    app.before_request(authenticate)
