"""Test data factories: users, API tokens, enrolled devices and stored records.

Reference data comes from the demo seed (loaded once per test database); these add the people
and tablets a test needs, with sensible defaults and keyword "traits".
"""

from __future__ import annotations

import functools
import uuid
import zlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from server.models import ApiToken, Country, Device, Record, Team, User, UserCountry
from server.operations.accounts import new_device
from server.operations.passwords import hash_password
from server.operations.reference import upsert
from server.persistence.seq import next_seq
from server.persistence.timeutil import isoformat_z, utcnow
from server.web.auth import USER_TOKEN_PREFIX, hash_secret, new_token

DEFAULT_PASSWORD = "correct horse battery staple"
_PASSWORD_HASH_CACHE: dict[str, str] = {}


def _hash(password: str) -> str:
    # Argon2 is deliberately slow; tests reuse one hash per password.
    if password not in _PASSWORD_HASH_CACHE:
        _PASSWORD_HASH_CACHE[password] = hash_password(password)
    return _PASSWORD_HASH_CACHE[password]


def make_user(session: Session, *, username: str | None = None, role: str = "coordinator",
              countries: tuple[str, ...] = ("LY",), team_id: str | None = None,
              password: str = DEFAULT_PASSWORD) -> User:
    user = User(username=username or f"user-{uuid.uuid4().hex[:8]}", password_hash=_hash(password), role=role,
                team_id=team_id, active=True, created_at=utcnow())
    user.country_links = [UserCountry(country_code=code) for code in countries]
    session.add(user)
    session.flush()
    return user


def make_token(session: Session, user: User, *, expired: bool = False) -> str:
    token = new_token(USER_TOKEN_PREFIX)
    now = utcnow()
    expires = now - timedelta(minutes=1) if expired else now + timedelta(hours=12)
    session.add(ApiToken(user_id=user.id, token_hash=hash_secret(token), created_at=now, expires_at=expires))
    session.flush()
    return token


@dataclass
class EnrolledDevice:
    device: Device
    token: str
    user: User

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_device(session: Session, *, team_id: str = "ly-mmt-tripoli", revoked: bool = False,
                user: User | None = None) -> EnrolledDevice:
    user = user or make_user(session, role="field_worker", team_id=team_id)
    now = utcnow()
    device, token = new_device(session, team_id=team_id, user_id=user.id, label="test tablet", now=now,
                               app_version="1.4.0")
    if revoked:
        device.status, device.revoked_at = "revoked", now
        session.flush()
    return EnrolledDevice(device=device, token=token, user=user)


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_record(session: Session, *, team_id: str = "ly-mmt-tripoli", site_id: str = "ly-mp-tripoli",
                entity: str = "consultation", record_id: str | None = None, version: int = 1,
                status: str = "active", data: dict | None = None, seq: int | None = None) -> Record:
    """A stored record at its latest version, inserted directly (as the push store would leave it),
    with a fresh seq from the server counter unless one is given."""
    now = utcnow()
    record = Record(
        id=record_id or str(uuid.uuid4()), entity=entity, team_id=team_id, site_id=site_id,
        occurred_on=now.date(), recorded_at=isoformat_z(now) or "", population_group="idp",
        beneficiary_ref=None,
        data=data if data is not None else {"population_group": "idp", "sex": "f", "age_band": "18-59",
                                            "visit": "new", "service": "general", "referral": False},
        version=version, seq=seq if seq is not None else next_seq(session), status=status, clock_suspect=False,
        device_id=None, received_at=now, updated_at=now,
    )
    session.add(record)
    session.flush()
    return record


def make_team(session: Session, *, team_id: str = "tn-mmt-tunis", country_code: str = "TN",
              country_name: str = "Tunisia", team_type: str = "mobile_medical") -> Team:
    """A team (and its country, if new) outside the demo's Libya programme: for scope tests."""
    upsert(session, Country, country_code, code=country_code, name=country_name)
    team, _ = upsert(session, Team, team_id, id=team_id, country_code=country_code, name=f"Team {team_id}",
                     team_type=team_type)
    return team


# --- push payloads (wire shapes of api.md "Sync": push) -------------------------------------------

def _record_common(team_id: str, site_id: str) -> dict:
    now = utcnow()
    return {"site_id": site_id, "team_id": team_id, "occurred_on": (now - timedelta(days=1)).date().isoformat(),
            "recorded_at": isoformat_z(now), "population_group": "idp"}


def consultation_data(*, team_id: str = "ly-mmt-tripoli", site_id: str = "ly-mp-tripoli", **overrides: object) -> dict:
    return {**_record_common(team_id, site_id), "sex": "f", "age_band": "18-59", "visit": "new",
            "service": "general", "referral": False, **overrides}


def distribution_data(*, team_id: str = "ly-mmt-tripoli", site_id: str = "ly-mp-tripoli", **overrides: object) -> dict:
    return {**_record_common(team_id, site_id), "sex": "m", "age_band": "5-17", "item_code": "hk-family",
            "quantity": 1, **overrides}


def outreach_data(*, team_id: str = "ly-mmt-tripoli", site_id: str = "ly-mp-tripoli", **overrides: object) -> dict:
    return {**_record_common(team_id, site_id), "activity": "screening",
            "reached": {"f": {"18-59": 12}, "m": {"5-17": 3}}, **overrides}


def training_data(*, team_id: str = "ly-mmt-tripoli", site_id: str = "ly-mp-tripoli", **overrides: object) -> dict:
    """A training has no population group and no age (domain.md)."""
    common = {key: value for key, value in _record_common(team_id, site_id).items() if key != "population_group"}
    return {**common, "topic": "mhpss", "participant_type": "moh_staff", "participants": {"f": 12, "m": 7},
            "days": 3, **overrides}


def create_mutation(entity: str = "consultation", data: dict | None = None, *, record_id: str | None = None,
                    op_id: str | None = None) -> dict:
    builders = {"consultation": consultation_data, "distribution": distribution_data, "outreach": outreach_data,
                "training": training_data}
    return {"op_id": op_id or str(uuid.uuid4()), "kind": "create", "entity": entity,
            "id": record_id or str(uuid.uuid4()), "data": data if data is not None else builders[entity]()}


def correct_mutation(record_id: str, base_version: int, data: dict, *, entity: str = "consultation",
                     reason: str | None = "typo", op_id: str | None = None) -> dict:
    mutation = {"op_id": op_id or str(uuid.uuid4()), "kind": "correct", "entity": entity, "id": record_id,
                "base_version": base_version, "data": data}
    return {**mutation, "reason": reason} if reason is not None else mutation


def void_mutation(record_id: str, base_version: int, *, entity: str = "consultation",
                  reason: str = "entered twice", op_id: str | None = None) -> dict:
    return {"op_id": op_id or str(uuid.uuid4()), "kind": "void", "entity": entity, "id": record_id,
            "base_version": base_version, "reason": reason}


def push_body(mutations: list, *, batch_id: str | None = None, client_time: str | None = None,
              app_version: str = "1.4.0") -> dict:
    return {"batch_id": batch_id or str(uuid.uuid4()), "schema_version": 1, "app_version": app_version,
            "client_time": client_time or isoformat_z(utcnow()), "mutations": mutations}


def push_headers(device: EnrolledDevice, body: dict, **extra: str) -> dict[str, str]:
    """Headers of a push: the device's token and `Idempotency-Key` = the body's batch_id."""
    return {**device.headers, "Idempotency-Key": str(body["batch_id"]), **extra}


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed to about 1 MB (made once per test session: ~3 s)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([*(compressor.compress(zeros) for _ in range(1024)), compressor.flush()])
