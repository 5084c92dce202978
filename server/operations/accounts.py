"""Account operations: users, API tokens, device enrollment and revocation (domain.md "Accounts").

Plain functions over a session: they add and flush, never commit (the request or CLI command
does). They raise `ApiError` with the status api.md gives each outcome; the CLI prints the message.

Secrets are only ever stored hashed: passwords with Argon2id (server/operations/passwords.py), tokens and
enrollment codes with SHA-256 (server/web/auth.py): tokens carry 256 random bits, and a code is
only useful for 24 hours, once, behind a per-address backoff (server/web/ratelimit.py).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server.models import ApiToken, Conflict, Country, Device, EnrollmentCode, Team, User, UserCountry
from server.operations import audit
from server.operations.passwords import hash_password, verify_password
from server.web.auth import (
    ADMIN,
    COORDINATOR,
    DEVICE_TOKEN_PREFIX,
    FIELD_WORKER,
    ROLES,
    USER_TOKEN_PREFIX,
    Principal,
    hash_secret,
    new_token,
)
from server.web.errors import ApiError, validation_error
from server.web.pagination import paginate
from server.web.ratelimit import Backoff, forget, rate_limited_error, record_failure, retry_after

# Brute force (server/web/ratelimit.py backs off, it never locks). A login is limited first per
# (username, client address): a stranger's failures from elsewhere never slow the real user down,
# and the user's own typos are forgotten at their next success. Its window is a day, so a guesser
# who keeps at it stays at the 15-minute cap (with a shorter window, old failures would age out
# and the delay shrink again). Behind it, looser limits per username (a guesser spread over many
# addresses: about one try a minute once past 20) and per address (one address, many usernames).
LOGIN_PAIR = Backoff("login:pair", free=5, base=timedelta(seconds=2), cap=timedelta(minutes=15),
                     window=timedelta(hours=24))
LOGIN_USER = Backoff("login:user", free=20, base=timedelta(seconds=1), cap=timedelta(minutes=1),
                     window=timedelta(hours=1))
LOGIN_ADDRESS = Backoff("login:addr", free=30, base=timedelta(seconds=1), cap=timedelta(minutes=5),
                        window=timedelta(hours=1))
# Enrollment codes carry 50 random bits and live 24 h; backing off per address after 10 wrong
# ones keeps guessing hopeless (about 100 tries a day) while a field worker who mistypes twice
# never notices.
ENROLL_ADDRESS = Backoff("enroll:addr", free=10, base=timedelta(seconds=2), cap=timedelta(minutes=15),
                         window=timedelta(hours=24))

ENROLLMENT_TTL = timedelta(hours=24)
# Crockford base32: no I, L, O, U, so a code read aloud or off paper is typed right.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 50 random bits
_CODE_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # Argon2 takes any length; this only bounds the work per request
# The length rule already excludes most of the usual lists; these are the long favourites.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890", "12345678910", "0123456789", "1111111111", "0000000000", "1234512345",
        "qwertyuiop", "qwertyuiop123", "1q2w3e4r5t", "1qaz2wsx3edc", "zaq12wsxcde3", "asdfghjkl1",
        "password12", "password123", "password1234", "passw0rd123", "iloveyou123", "letmein123",
        "welcome123", "welcome1234", "administrator", "admin12345", "adminadmin", "changeme123",
        "football123", "baseball123", "sunshine123", "princess123", "superman123", "trustno1234",
        "fieldsync123", "fieldsync2016", "fieldsync2026",
    }
)  # fmt: skip


# --- users ---------------------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    # Case-insensitive everywhere, so "Amira" and "amira" are one account and one rate-limit key.
    return username.strip().lower()


def password_problems(password: str, username: str) -> list[str]:
    if not password:
        return ["The password is empty."]
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        problems.append("This password is too common or too easy to guess.")
    if username and username in lowered:
        problems.append("The password must not contain the username.")
    return problems


def role_problems(session: Session, *, role: str, countries: list[str], team_id: str | None) -> dict[str, list[str]]:
    """What is wrong with a user's role, countries (upper-case codes) and team taken together, by
    field; shared by creating a user and changing one (server/operations/users.py `update_user`)."""
    problems: dict[str, list[str]] = {}

    def problem(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if role not in ROLES:
        problem("role", f"Must be one of: {', '.join(ROLES)}.")
    known = set(session.scalars(select(Country.code).where(Country.code.in_(countries))))
    for code in countries:
        if code not in known:
            problem("country", f"Unknown country {code}.")
    if not countries and role != ADMIN:
        problem("country", "Give at least one country: it is the scope of this user.")
    if team_id is not None:
        team = session.get(Team, team_id)
        if role != FIELD_WORKER:
            problem("team", "Only field workers belong to a team.")
        elif team is None:
            problem("team", f"Unknown team {team_id}.")
        elif team.country_code not in countries:
            problem("team", f"Team {team_id} is in {team.country_code}, not in {', '.join(countries) or 'no country'}.")
    elif role == FIELD_WORKER:
        problem("team", "A field worker needs a team.")
    if role == FIELD_WORKER and len(countries) > 1:
        problem("country", "A field worker works in one country: their team's.")
    return problems


def create_user(
    session: Session,
    *,
    username: str,
    role: str,
    countries: list[str],
    team_id: str | None,
    password: str,
    now: datetime,
) -> User:
    """Create a user; every problem with the request is reported at once, by field."""
    username = normalise_username(username)
    countries = sorted({code.strip().upper() for code in countries})
    problems: dict[str, list[str]] = {}
    if not USERNAME_PATTERN.fullmatch(username):
        problems["username"] = ["Use 3 to 64 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit."]
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        problems["username"] = [f"A user named {username} already exists."]
    for field, messages in role_problems(session, role=role, countries=countries, team_id=team_id).items():
        problems.setdefault(field, []).extend(messages)
    messages = password_problems(password, username)
    if messages:
        problems["password"] = messages
    if problems:
        raise validation_error(problems, "The user could not be created.")

    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        team_id=team_id,
        active=True,
        created_at=now,
    )
    user.country_links = [UserCountry(country_code=code) for code in countries]
    session.add(user)
    session.flush()
    return user


# --- API tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    role: str


def login_limits(username: str, address: str) -> list[Backoff]:
    return [
        replace(LOGIN_PAIR, key=f"login:pair:{username}@{address}"),
        replace(LOGIN_USER, key=f"login:user:{username}"),
        replace(LOGIN_ADDRESS, key=f"login:addr:{address}"),
    ]


def forget_login_failures(session: Session, username: str) -> int:
    """Clear every login failure recorded for a username (an admin's unlock); returns how many."""
    username = normalise_username(username)
    return forget(session, [f"login:user:{username}"], prefixes=[f"login:pair:{username}@"])


def issue_user_token(
    session: Session, *, username: str, password: str, address: str, ttl: timedelta, now: datetime
) -> IssuedToken:
    """Exchange a coordinator's or admin's password for a bearer token.

    A failure is recorded before the 401 is raised: the caller must keep it (commit on error).
    """
    username = normalise_username(username)
    limits = login_limits(username, address)
    wait = retry_after(session, limits, now)
    if wait is not None:
        # Checked before the password, so a locked-out guesser learns nothing, right or wrong.
        raise rate_limited_error(wait)
    user = session.scalar(select(User).where(User.username == username))
    # verify_password runs Argon2 against a dummy hash for an unknown user: equal timing.
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.active:
        record_failure(session, limits, now)
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    # The right password from this address: its earlier typos no longer count against it. The
    # per-username and per-address counts stay (they may be someone else's).
    forget(session, [limits[0].key])
    if user.role not in (COORDINATOR, ADMIN):
        raise ApiError(
            403,
            "role_not_allowed",
            "Field workers sync through an enrolled tablet; ask a coordinator for an enrollment code.",
        )
    # Expired tokens are useless; dropping this user's now keeps the table from growing forever.
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.expires_at <= now))
    token = new_token(USER_TOKEN_PREFIX)
    expires_at = now + ttl
    session.add(ApiToken(user_id=user.id, token_hash=hash_secret(token), created_at=now, expires_at=expires_at))
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, role=user.role)


# --- enrollment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


def generate_enrollment_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_enrollment_code(code: str) -> str:
    """The canonical form that is hashed: upper case, no separators, confusable letters read as digits."""
    return "".join(code.split()).replace("-", "").upper().translate(_CODE_CONFUSABLES)


def _plausible_id(value: str) -> bool:
    # Path parameters reach the database unvalidated: a NUL would be a PostgreSQL error (a 500),
    # and a 10 kB "id" should not be echoed back in the message.
    return 0 < len(value) <= 64 and value.isprintable()


def _unknown(kind: str, value: str) -> ApiError:
    return ApiError(404, "not_found", f"Unknown {kind} {value}." if _plausible_id(value) else f"Unknown {kind}.")


def team_in_scope(session: Session, principal: Principal, team_id: str) -> Team:
    """The team, if the caller may manage it: 404 unknown, 403 another country's."""
    team = session.get(Team, team_id) if _plausible_id(team_id) else None
    if team is None:
        raise _unknown("team", team_id)
    principal.require_country(team.country_code)
    return team


def ensure_field_worker_of(session: Session, team: Team, username: str) -> User:
    """The user a tablet is enrolled for: an active field worker of `team`, else 422 on `username`
    (or on `team`, when the team itself is deactivated)."""
    if not team.active:
        raise validation_error({"team": [f"Team {team.id} is deactivated."]})
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise validation_error({"username": ["No user has this username."]})
    if user.role != FIELD_WORKER or user.team_id != team.id or not user.active:
        raise validation_error({"username": [f"{user.username} is not an active field worker of team {team.id}."]})
    return user


def create_enrollment_code(
    session: Session, principal: Principal, *, team_id: str, username: str, now: datetime
) -> IssuedCode:
    """A one-time code with which a field worker of `team_id` enrolls a tablet (24 h)."""
    team = team_in_scope(session, principal, team_id)
    user = ensure_field_worker_of(session, team, username)
    code = generate_enrollment_code()
    expires_at = now + ENROLLMENT_TTL
    session.add(
        EnrollmentCode(
            code_hash=hash_secret(normalise_enrollment_code(code)),
            team_id=team.id,
            user_id=user.id,
            created_by=principal.user_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    audit.record(session, audit.actor_of(principal), action="enrollment_code", target_type="team", target_id=team.id,
                 countries=[team.country_code], before=None,
                 after={"username": user.username, "expires_at": expires_at}, now=now)
    return IssuedCode(code=code, expires_at=expires_at)


@dataclass(frozen=True)
class NewDevice:
    device_id: str
    token: str
    team_id: str


def enroll_limits(address: str) -> list[Backoff]:
    return [replace(ENROLL_ADDRESS, key=f"enroll:addr:{address}")]


def enroll_device(
    session: Session, *, code: str, label: str, app_version: str, address: str, now: datetime
) -> NewDevice:
    """Spend an enrollment code on a new device and return its token (the only time it is shown).

    Unknown, used and expired codes get the same 401, recorded as a failure (commit on error).
    """
    limits = enroll_limits(address)
    wait = retry_after(session, limits, now)
    if wait is not None:
        raise rate_limited_error(wait)

    def refuse() -> ApiError:
        record_failure(session, limits, now)
        return ApiError(401, "invalid_enrollment_code", "This enrollment code is unknown, used or expired.")

    normalised = normalise_enrollment_code(code)
    if len(normalised) != CODE_LENGTH or set(normalised) - set(CODE_ALPHABET):
        raise refuse()
    enrollment = session.scalar(select(EnrollmentCode).where(EnrollmentCode.code_hash == hash_secret(normalised)))
    if enrollment is None or enrollment.used_at is not None or enrollment.expires_at <= now:
        raise refuse()
    user = session.get(User, enrollment.user_id)
    # The worker may have left the team (or been deactivated) since the code was made.
    if user is None or not user.active or user.role != FIELD_WORKER or user.team_id != enrollment.team_id:
        raise refuse()
    device_id = str(uuid.uuid4())
    # Two tablets racing with one code: only the UPDATE that still finds `used_at IS NULL` wins
    # (PostgreSQL re-checks the condition after the other transaction commits; SQLite serialises).
    spent = session.execute(
        update(EnrollmentCode)
        .where(EnrollmentCode.id == enrollment.id, EnrollmentCode.used_at.is_(None))
        .values(used_at=now, device_id=device_id)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise refuse()
    _, token = new_device(session, device_id=device_id, team_id=enrollment.team_id, user_id=user.id, label=label,
                          app_version=app_version, now=now)
    # A new credential that can write the team's records: audited (issue 29 item 6), the worker whose
    # code it was as the actor, like the Collect enrolment (server/integrations/openrosa/enrolment.py).
    team = session.get(Team, enrollment.team_id)
    audit.record(session, audit.Actor(user.id, user.username), action="enrol_device", target_type="device",
                 target_id=device_id, countries=[team.country_code if team else None], before=None,
                 after={"team_id": enrollment.team_id, "username": user.username, "label": label,
                        "app_version": app_version, "enrollment_code_id": enrollment.id}, now=now)
    return NewDevice(device_id=device_id, token=token, team_id=enrollment.team_id)


APP = "app"  # devices.kind of a tablet running the Fieldsync app (JSON sync); Collect's is "collect"


def new_device(session: Session, *, team_id: str, user_id: int, label: str, now: datetime,
               app_version: str | None = None, kind: str = APP, device_id: str | None = None) -> tuple[Device, str]:
    """The one builder of a `Device`: an active tablet of a field worker of the team, stored (flushed),
    and its token, which exists only in this answer (the device row keeps its hash)."""
    token = new_token(DEVICE_TOKEN_PREFIX)
    device = Device(id=device_id or str(uuid.uuid4()), team_id=team_id, user_id=user_id, label=label,
                    app_version=app_version, status="active", token_hash=hash_secret(token), created_at=now, kind=kind)
    session.add(device)
    session.flush()
    return device, token


# --- teams and devices for coordinators ----------------------------------------------------------


def teams_page(session: Session, principal: Principal, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """The teams in the caller's countries, by id (reference data has no "newest")."""
    stmt = select(Team)
    if principal.countries is not None:
        stmt = stmt.where(Team.country_code.in_(sorted(principal.countries)))
    page = paginate(session, stmt, keys=(Team.id,), limit=limit, cursor=cursor, descending=False)
    return page.envelope([_team_item(team) for (team,) in page.rows])


def _team_item(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "name_ar": team.name_ar,
        "active": team.active,
        "team_type": team.team_type,
        "country": team.country_code,
        "site_ids": team.site_ids,
    }


def _pending_conflicts():  # type: ignore[no-untyped-def]
    return (
        select(func.count(Conflict.id))
        .where(Conflict.device_id == Device.id, Conflict.status == "open")
        .correlate(Device)
        .scalar_subquery()
    )


def _devices_select(principal: Principal):  # type: ignore[no-untyped-def]
    stmt = (
        select(Device, User.username, _pending_conflicts())
        .join(Team, Team.id == Device.team_id)
        .join(User, User.id == Device.user_id)
    )
    if principal.countries is not None:
        stmt = stmt.where(Team.country_code.in_(sorted(principal.countries)))
    return stmt


def devices_page(session: Session, principal: Principal, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """The devices of the caller's countries, newest enrollment first."""
    page = paginate(
        session, _devices_select(principal), keys=(Device.created_at, Device.id), limit=limit, cursor=cursor
    )
    return page.envelope([_device_item(*row) for row in page.rows])


def _device_item(device: Device, username: str, pending_conflicts: int) -> dict[str, Any]:
    return {
        "id": device.id,
        "team_id": device.team_id,
        "username": username,
        "label": device.label,
        "status": device.status,
        "app_version": device.app_version,
        "enrolled_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "revoked_at": device.revoked_at,
        "pending_conflicts": pending_conflicts,
        "quarantine_dropped": device.quarantine_dropped,
    }


def revoke_device(session: Session, principal: Principal, *, device_id: str, now: datetime) -> dict[str, Any]:
    """Revoke a device: its token is refused from the next request. Its records stay.

    Revoking a revoked device changes nothing (the first revocation's time and author stay).
    """
    device = session.get(Device, device_id) if _plausible_id(device_id) else None
    if device is None:
        raise _unknown("device", device_id)
    country = session.scalar(select(Team.country_code).where(Team.id == device.team_id)) or ""
    principal.require_country(country)
    if device.status == "active":
        device.status = "revoked"
        device.revoked_at = now
        device.revoked_by = principal.user_id
        session.flush()
        audit.record(session, audit.actor_of(principal), action="revoke", target_type="device", target_id=device.id,
                     countries=[country], before={"status": "active", "label": device.label},
                     after={"status": "revoked", "label": device.label}, now=now)
    username = session.scalar(select(User.username).where(User.id == device.user_id)) or ""
    pending = session.scalar(
        select(func.count(Conflict.id)).where(Conflict.device_id == device.id, Conflict.status == "open")
    )
    return _device_item(device, username, pending)
