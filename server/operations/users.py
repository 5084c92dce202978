"""User administration: list, create, change, deactivate, reset a password, unlock (issues 13 §5, 15, 30).

One set of plain functions behind both the CLI (`flask --app server users ...`, actor `cli`,
unrestricted) and the admin API (a coordinator acts only on users of their countries). Functions
add and flush; the request or CLI command commits. Every change is written to the audit log.

A deactivated user's API tokens are refused at once because authentication checks `User.active`
on every request (server/web/auth.py); deactivation also deletes those tokens and revokes the user's
tablets, so a field worker who left cannot sync from a tablet they kept.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.models import ApiToken, AuthFailure, Device, EnrollmentCode, Team, User, UserCountry
from server.operations import accounts, audit
from server.operations.audit import Actor
from server.operations.passwords import hash_password
from server.web.auth import ADMIN, COORDINATOR, FIELD_WORKER, Principal
from server.web.errors import ApiError, validation_error
from server.web.pagination import paginate
from server.web.ratelimit import retry_after

# Who a coordinator may create: never an admin (that would widen their own power).
COORDINATOR_MAY_CREATE = (FIELD_WORKER, COORDINATOR)


def is_locked(session: Session, username: str, now: datetime) -> bool:
    """True while logging in as `username` must wait: from everywhere (the per-username key) or from
    some address (a per-(username, address) key, server.operations.accounts.login_limits)."""
    username = accounts.normalise_username(username)
    pair_prefix = f"login:pair:{username}@"
    keys = set(session.scalars(select(AuthFailure.key).where(AuthFailure.key.startswith(pair_prefix,
                                                                                        autoescape=True))))
    limits = [limit for limit in accounts.login_limits(username, "-") if limit.key.startswith("login:user:")]
    limits += [replace(accounts.LOGIN_PAIR, key=key) for key in keys]
    return any(retry_after(session, [limit], now) is not None for limit in limits)


def user_item(session: Session, user: User, now: datetime) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "countries": user.countries, "team_id": user.team_id,
            "active": user.active, "created_at": user.created_at, "locked": is_locked(session, user.username, now)}


def _audit_fields(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "countries": user.countries, "team_id": user.team_id,
            "active": user.active}


# --- scope -------------------------------------------------------------------------------------


def _scope_select(principal: Principal | None) -> Any:
    stmt = select(User)
    if principal is not None and principal.countries is not None:
        in_scope = select(UserCountry.user_id).where(UserCountry.country_code.in_(sorted(principal.countries)))
        stmt = stmt.where(User.id.in_(in_scope))
    return stmt


def find_user(session: Session, principal: Principal | None, username: str) -> User:
    """The user, if the caller may manage them: unknown or wholly outside scope 404, partly 403."""
    name = accounts.normalise_username(username) if len(username) <= 64 else ""
    user = session.scalar(select(User).where(User.username == name)) if name and name.isprintable() else None
    if user is None:
        raise ApiError(404, "not_found", f"Unknown user {name}." if name else "Unknown user.")
    if principal is None or principal.countries is None:
        return user
    countries = set(user.countries)
    if not countries & principal.countries:
        raise ApiError(404, "not_found", f"Unknown user {name}.")
    if user.role == ADMIN or not countries <= principal.countries:
        raise ApiError(403, "out_of_scope", f"{name} also works outside your countries; ask an admin.")
    return user


# --- operations --------------------------------------------------------------------------------


def users_page(session: Session, principal: Principal, *, limit: int, cursor: str | None,
               now: datetime) -> dict[str, Any]:
    """The users in the caller's countries, by username."""
    page = paginate(session, _scope_select(principal), keys=(User.username,), limit=limit, cursor=cursor,
                    descending=False)
    return page.envelope([user_item(session, user, now) for (user,) in page.rows])


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def create_user(session: Session, principal: Principal | None, actor: Actor, *, username: str, role: str,
                countries: list[str], team_id: str | None, password: str, now: datetime) -> User:
    """Create a user; a coordinator creates field workers and coordinators of their own countries."""
    if principal is not None and principal.countries is not None:
        problems: dict[str, list[str]] = {}
        if role not in COORDINATOR_MAY_CREATE:
            problems["role"] = [f"Coordinators may create: {', '.join(COORDINATOR_MAY_CREATE)}."]
        outside = sorted({code.strip().upper() for code in countries} - principal.countries)
        if outside:
            raise ApiError(403, "out_of_scope", f"You may not access country {', '.join(outside)}.")
        if problems:
            raise validation_error(problems, "The user could not be created.")
    taken = accounts.normalise_username(username)
    if session.scalar(select(User.id).where(User.username == taken)) is not None:
        # A duplicate id is a 409 (as for reference data), still naming the field for the form.
        raise ApiError(409, "already_exists", f"A user named {taken} already exists.",
                       {"username": [f"A user named {taken} already exists."]})
    user = accounts.create_user(session, username=username, role=role, countries=countries, team_id=team_id,
                                password=password, now=now)
    audit.record(session, actor, action="create", target_type="user", target_id=user.username,
                 countries=user.countries, before=None, after=_audit_fields(user), now=now)
    return user


# role_problems names the create form's fields; a PATCH body's fields are named as sent.
_PATCH_FIELDS = {"country": "countries", "team": "team_id"}


def update_user(session: Session, principal: Principal | None, actor: Actor, username: str,
                changes: dict[str, Any], now: datetime) -> User:
    """Change a user's role, countries and/or team (api.md v1.2 `PATCH /api/v1/users/<username>`).

    A coordinator changes only users wholly within their countries (find_user), to countries of
    their own, and never makes an admin. A field worker who leaves a team (another team, another
    role) keeps no device of it: those tablets are revoked and their unused enrollment codes
    deleted, each revocation audited, so a tablet of the old team cannot keep syncing its records.
    """
    user = find_user(session, principal, username)
    role = changes.get("role", user.role)
    # A team belongs to field workers only: a promotion without a team_id leaves the team.
    team_id = changes.get("team_id", user.team_id if role == FIELD_WORKER else None)
    countries = sorted({code.strip().upper() for code in changes.get("countries", user.countries)})
    team = session.get(Team, team_id) if team_id is not None and "countries" not in changes else None
    if role == FIELD_WORKER and team is not None:
        countries = [team.country_code]  # a field worker works in their team's country: moving follows it
    if principal is not None and principal.countries is not None:
        outside = sorted(set(countries) - principal.countries)
        if outside:
            raise ApiError(403, "out_of_scope", f"You may not access country {', '.join(outside)}.")
        if role not in COORDINATOR_MAY_CREATE:
            raise validation_error({"role": [f"Coordinators may give: {', '.join(COORDINATOR_MAY_CREATE)}."]},
                                   "The user was not changed.")
    if actor.id is not None and actor.id == user.id and role != user.role:
        raise validation_error({"role": ["You cannot change your own role."]}, "The user was not changed.")
    problems = accounts.role_problems(session, role=role, countries=countries, team_id=team_id)
    if problems:
        raise validation_error({_PATCH_FIELDS.get(field, field): messages for field, messages in problems.items()},
                               "The user was not changed.")
    before = _audit_fields(user)
    user.role, user.team_id = role, team_id
    if countries != user.countries:
        user.country_links = [UserCountry(country_code=code) for code in countries]
    session.flush()
    after = _audit_fields(user)
    if after == before:
        return user
    revoked = _leave_other_teams(session, actor, user, now)
    audit.record(session, actor, action="update", target_type="user", target_id=user.username,
                 countries=set(before["countries"]) | set(after["countries"]), before=before,
                 after={**after, **({"devices_revoked": revoked} if revoked else {})}, now=now)
    return user


def _leave_other_teams(session: Session, actor: Actor, user: User, now: datetime) -> int:
    """Revoke the user's active tablets of any team but their current one (audited, one entry per
    tablet, as a coordinator's revocation is) and drop their unused enrollment codes for them."""
    stale = select(Device).where(Device.user_id == user.id, Device.status == "active")
    codes = delete(EnrollmentCode).where(EnrollmentCode.user_id == user.id, EnrollmentCode.used_at.is_(None))
    if user.team_id is not None:
        stale = stale.where(Device.team_id != user.team_id)
        codes = codes.where(EnrollmentCode.team_id != user.team_id)
    session.execute(codes)
    revoked = 0
    for device in session.scalars(stale.order_by(Device.id)).all():
        device.status, device.revoked_at, device.revoked_by = "revoked", now, actor.id
        country = session.scalar(select(Team.country_code).where(Team.id == device.team_id))
        audit.record(session, actor, action="revoke", target_type="device", target_id=device.id,
                     countries=[country], before={"status": "active", "label": device.label},
                     after={"status": "revoked", "label": device.label, "reason": "user_left_team"}, now=now)
        revoked += 1
    return revoked


def set_active(session: Session, principal: Principal | None, actor: Actor, username: str, active: bool,
               now: datetime) -> tuple[User, int]:
    """Deactivate (or reactivate) a user. Returns (user, tablets revoked)."""
    user = find_user(session, principal, username)
    if not active and actor.id is not None and actor.id == user.id:
        raise validation_error({"username": ["You cannot deactivate your own account."]})
    if user.active == active:
        return user, 0
    before = _audit_fields(user)
    user.active = active
    revoked = 0
    if not active:
        session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        for device in session.scalars(select(Device).where(Device.user_id == user.id, Device.status == "active")):
            device.status, device.revoked_at, device.revoked_by = "revoked", now, actor.id
            revoked += 1
    session.flush()
    audit.record(session, actor, action="activate" if active else "deactivate", target_type="user",
                 target_id=user.username, countries=user.countries, before=before,
                 after={**_audit_fields(user), **({"devices_revoked": revoked} if revoked else {})}, now=now)
    return user, revoked


def reset_password(session: Session, principal: Principal | None, actor: Actor, username: str, password: str,
                   now: datetime) -> User:
    """Set a new password; the user's API tokens end and their login lock is lifted."""
    user = find_user(session, principal, username)
    problems = accounts.password_problems(password, user.username)
    if problems:
        raise validation_error({"password": problems}, "The password was not changed.")
    user.password_hash = hash_password(password)
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    accounts.forget_login_failures(session, user.username)
    session.flush()
    audit.record(session, actor, action="reset_password", target_type="user", target_id=user.username,
                 countries=user.countries, before=None, after=None, now=now)
    return user


def unlock(session: Session, principal: Principal | None, actor: Actor, username: str, now: datetime) -> int:
    """Forget the failed logins counted against this username. Returns how many were forgotten."""
    user = find_user(session, principal, username)
    cleared = accounts.forget_login_failures(session, user.username)
    session.flush()
    audit.record(session, actor, action="unlock", target_type="user", target_id=user.username,
                 countries=user.countries, before=None, after={"failures_cleared": cleared}, now=now)
    return int(cleared or 0)
