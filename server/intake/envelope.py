"""The write envelope: the one implementation of what every write of records guarantees.

The JSON push (server/intake/push.py), the OpenRosa submission (server/integrations/openrosa/submission.py) and a
coordinator's resolution (server/intake/resolution.py) each translate their request into a `Translation`
and call `write`; the envelope does the rest, in this order, in the request's one transaction
(committed by server/web/transactions.py, so a crash before the commit leaves nothing):

1. **Retries.** Transient database failures (SQLite busy after the busy timeout, PostgreSQL
   deadlock or serialization failure, a unique violation from two requests inserting the same op or
   record at once) roll the whole write back and run it again; when retries run out the answer is
   503 `temporarily_unavailable` with `Retry-After`, never a 500.
2. **The device's state**, read again in this transaction (authentication read it without a lock):
   a revocation committed since is honoured. With it, the reference data's stamp, and on
   PostgreSQL the claim of the key below (one statement; the state is read as of before a wait,
   as when the two were apart).
3. **Claim of the idempotency key.** The ledger row is written in the write's own transaction, never
   "claimed" in a separate one, so there is no half-claimed state to clean up after a crash; "in
   flight" therefore cannot be a row. On PostgreSQL a transaction-scoped advisory lock on the key
   marks it: taken at once or refused (the push answers 409 `batch_in_flight`), or waited for
   (Collect retries while its first POST is in flight: the second then reads the first's committed
   row and replays it; READ COMMITTED takes a new snapshot per statement). On SQLite every
   transaction starts with `BEGIN IMMEDIATE` (server/extensions.py): the second waits and replays.
4. **The ledger** (each intake keeps its own: `sync_batches`, `openrosa_submissions`; a
   coordinator's resolution has the open item itself): a resend is answered from it unchanged, and
   other content under a used key is refused, in the intake's words.
5. **A revoked device** (server/intake/quarantine.py): its well-formed mutations are kept in quarantine,
   at most `REVOKED_QUARANTINE_MAX` per device (past the bound only `quarantine_dropped` grows, and
   no ledger row is written either); nothing else it sent is kept (no attachments); it is throttled
   before its body is read (`refuse_throttled`). The intake then answers its 403.
6. **Ownership.** An edit reaches only a record of the device's team: the engine refuses another
   team's record as unknown (`sync/push.py` `_own_record`), and `same_team` is the check for an
   edit that names an earlier ledger entry (OpenRosa's `deprecatedID`) instead of a record.
7. **`apply_batch`**, the store's unit of work; the intake settles its ledger row from the results.
   The tail of the writes (new records, rollups, revisions, op memory, the ledger row) is staged
   and written last, one statement on PostgreSQL (server/persistence/staged.py).
8. **The device touch**: `last_seen_at` when due and the app version when it changed
   (`server.web.auth.touch_device`, the only writer of both).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from flask import Flask
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from server.intake import Intake, quarantine
from server.models import Device
from server.persistence.reference_cache import STAMP, STAMP_NAME, ReferenceSnapshot, reference_snapshot
from server.persistence.staged import StagedWrites
from server.persistence.store import apply_batch, quarantine_batch
from server.persistence.timeutil import naive_utc, utcnow
from server.web.auth import device_revoked_error, touch_device
from server.web.errors import ApiError
from server.web.http_body import REVOKED_BODY_GUARD
from sync.domain import DeviceContext, ItemResult

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")

MAX_ATTEMPTS = 4
# Past this much time spent (e.g. one SQLite busy timeout), answer 503 instead of trying again:
# the client retries later, and a gunicorn worker is not held for minutes.
RETRY_BUDGET_SECONDS = 10.0
RETRY_AFTER_SECONDS = 2

# PostgreSQL SQLSTATEs worth running the write again for.
_TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "23505",  # unique_violation: two writes inserted the same op_id or record id at once
}


class Translation(ABC, Generic[A]):
    """One request of an intake in the envelope's terms; its methods answer in the intake's words
    (an answer `A`, or an exception its view turns into the wire error)."""

    intake: Intake
    # The idempotency key in the intake's ledger (None: the intake has none).
    key: str | None = None
    # Wait for a key in flight (then replay), rather than refuse at once with `in_flight()`.
    wait_for_key: bool = False
    # Passed on to `apply_batch`.
    batch_id: str | None = None
    client_time: datetime | None = None
    item_json: Sequence[bytes] | None = None
    # What the device says it runs, when the intake learns it.
    app_version: str | None = None

    def in_flight(self) -> Exception:
        raise NotImplementedError(f"{self.intake.name} waits for its keys")

    @abstractmethod
    def recall(self, session: Session, *, revoked: bool) -> A | None:
        """What the ledger says of this key: the answer to give now (a resend's), raising for other
        content under it; None to go on (keep, if the device is revoked; apply, otherwise)."""

    def hold(self, session: Session, now: datetime) -> A | None:
        """Active devices only: keep what comes beside the mutations (an attachment, a part of a
        split submission); an answer ends the write there, before anything is applied."""
        return None

    @abstractmethod
    def mutations(self, session: Session, now: datetime) -> list[Any]:
        """The wire mutations (as in a JSON push) this request makes."""

    @abstractmethod
    def settle(self, session: Session, results: list[ItemResult], now: datetime, staged: StagedWrites) -> A:
        """Write the ledger entry of the applied results (best staged in `staged`, which holds the
        batch's revisions and op memory until the envelope writes them after this); the answer."""

    def refuse(self, session: Session, *, kept: bool, now: datetime) -> A:
        """A revoked device's answer; `kept`: its mutations were put in quarantine now, and the
        ledger should remember the key (so a resend is not kept twice)."""
        raise NotImplementedError(f"{self.intake.name} has no revoked author")


@dataclass(frozen=True)
class DeviceState:
    status: str
    last_seen_at: datetime | None
    app_version: str | None
    reference_stamp: int | None


_DEVICES = Device.__table__
# Built once, with the reference stamp folded in: one indexed read per write.
_DEVICE_STATE = select(_DEVICES.c.status, _DEVICES.c.last_seen_at, _DEVICES.c.app_version, STAMP).where(
    _DEVICES.c.id == bindparam("device_key")
)


def device_state(session: Session, device_id: str) -> DeviceState | None:
    row = session.execute(_DEVICE_STATE, {"device_key": device_id}).first()
    return DeviceState(row.status, row.last_seen_at, row.app_version, row.reference_stamp) if row else None


def _pg_claiming_state(lock: str) -> TextClause:
    # The lock in a FROM subquery of one row, so it is taken once, whether or not the device exists
    # (an outer join: a missing device is read as none, as `device_state` reads it).
    return text(
        f"SELECT claim.claimed, devices.status, devices.last_seen_at, devices.app_version, "
        f"(SELECT value FROM seq_counter WHERE name = '{STAMP_NAME}') AS reference_stamp "
        f"FROM ({lock}) AS claim LEFT JOIN devices ON devices.id = :device_key"
    )


# Built once: the device's state with the claim of the key (PostgreSQL), waiting or not.
_PG_STATE_WAITING = _pg_claiming_state("SELECT true AS claimed FROM pg_advisory_xact_lock(:lock_key)")
_PG_STATE_TRYING = _pg_claiming_state("SELECT pg_try_advisory_xact_lock(:lock_key) AS claimed")


def _state_and_claim(session: Session, device_id: str, request: Translation[Any]) -> tuple[DeviceState | None, bool]:
    """The device's state and whether the request's key is claimed: one statement on PostgreSQL."""
    if request.key is None or session.get_bind().dialect.name != "postgresql":
        state = device_state(session, device_id)
        return state, request.key is None or claim(session, request.intake, request.key, wait=request.wait_for_key)
    statement = _PG_STATE_WAITING if request.wait_for_key else _PG_STATE_TRYING
    row = session.execute(statement, {"lock_key": lock_id(request.intake, request.key), "device_key": device_id}).one()
    state = (DeviceState(row.status, row.last_seen_at, row.app_version, row.reference_stamp)
             if row.status is not None else None)
    return state, bool(row.claimed)


def write(session: Session, device: DeviceContext, request: Translation[A], *, revoked_quarantine_max: int = 0,
          now: datetime | None = None) -> A:
    """Run one request of an intake through the envelope (module docstring), in the caller's
    transaction; the caller commits (and must also commit a revoked device's refusal)."""
    return with_retries(session, lambda: _attempt(session, device, request, revoked_quarantine_max,
                                                  now or datetime.now(UTC)))


def _attempt(session: Session, device: DeviceContext, request: Translation[A], maximum: int, now: datetime) -> A:
    state: DeviceState | None = None
    revoked = False
    claimed = True
    if request.intake.device_writes:
        state, claimed = _state_and_claim(session, device.device_id, request)
        revoked = state is None or state.status != "active"
    elif request.key is not None:
        claimed = claim(session, request.intake, request.key, wait=request.wait_for_key)
    if not claimed:
        if revoked:
            return request.refuse(session, kept=False, now=now)  # being kept by another request
        raise request.in_flight()
    answer = request.recall(session, revoked=revoked)
    if answer is not None:
        return answer
    if revoked:
        return _keep_revoked(session, device, request, maximum, now)
    answer = request.hold(session, now)
    if answer is not None:
        return answer
    reference: ReferenceSnapshot | None = None
    if state is not None:
        reference = reference_snapshot(session, state.reference_stamp)
    staged = StagedWrites(session)
    results = apply_batch(session, device, request.mutations(session, now), batch_id=request.batch_id, now=now,
                          client_time=request.client_time, reference=reference, item_json=request.item_json,
                          staged=staged)
    answer = request.settle(session, results, now, staged)
    staged.flush()
    if state is not None:
        touch_device(session, device.device_id, now=naive_utc(now), last_seen_at=state.last_seen_at,
                     app_version=request.app_version, stored_app_version=state.app_version)
    return answer


def _keep_revoked(session: Session, device: DeviceContext, request: Translation[A], maximum: int,
                  now: datetime) -> A:
    mutations = request.mutations(session, now)
    # Bounded per device (server/intake/quarantine.py): past the bound only a count grows, and no ledger
    # row is written either, so a flood of new keys stores nothing but that count.
    room = quarantine.revoked_room(session, device.device_id, maximum)
    quarantine.count_dropped(session, device.device_id, len(mutations) - min(room, len(mutations)))
    if room == 0:
        return request.refuse(session, kept=False, now=now)
    quarantine_batch(session, device, mutations[:room], batch_id=request.batch_id, now=now)
    return request.refuse(session, kept=True, now=now)


def refuse_throttled(session: Session, device_id: str) -> None:
    """Before a revoked device's body is read: 403 at once when it is throttled (nothing read, kept
    or counted), else the read is counted, committed at once: the body is read next, and must not
    be read while this write holds SQLite's one write lock (a stolen tablet uploading slowly would
    hold up every other tablet)."""
    if quarantine.revoked_push_throttled(session, device_id, utcnow()):
        raise device_revoked_error()
    session.commit()


def init_app(app: Flask) -> None:
    """Register the revoked device's throttle with the body reader (server/web/http_body.py)."""
    app.extensions[REVOKED_BODY_GUARD] = refuse_throttled


def same_team(session: Session, device: DeviceContext, author_device_id: str | None) -> bool:
    """Whether what `author_device_id` sent (a ledger entry an edit names) is of `device`'s team:
    another team's entry is unknown to this device, as another team's record is to the engine."""
    if author_device_id == device.device_id:
        return True
    team = session.scalar(select(_DEVICES.c.team_id).where(_DEVICES.c.id == author_device_id))
    return team is not None and team == device.team_id


# --- the idempotency key ------------------------------------------------------------------------


def claim(session: Session, intake: Intake, key: str, *, wait: bool) -> bool:
    """Mark the key as in flight until this transaction ends; False if another holds it (only when
    not `wait`ing)."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    lock = {"key": lock_id(intake, key)}
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), lock)
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), lock))


def lock_id(intake: Intake, key: str) -> int:
    """A signed 64-bit advisory lock id for an intake's key (a collision only costs a wait or a
    spurious 409)."""
    digest = hashlib.sha256(f"fieldsync-{intake.name}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# --- retries ------------------------------------------------------------------------------------


def is_transient(exc: DBAPIError) -> bool:
    """A database failure that says "try again", not "this request is wrong"."""
    if exc.connection_invalidated:
        return True
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in message or "database is busy" in message)


def with_retries(session: Session, attempt: Callable[[], T]) -> T:
    """`attempt()`, run again from a rolled-back transaction on a transient failure; 503 when
    retries run out."""
    started = time.monotonic()
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return attempt()
        except (OperationalError, IntegrityError) as exc:
            if not is_transient(exc):
                raise
            session.rollback()
            elapsed = time.monotonic() - started
            log.warning("write: transient database error (attempt %d, %.1fs): %s", number, elapsed, exc.orig)
            if number == MAX_ATTEMPTS or elapsed > RETRY_BUDGET_SECONDS:
                break
            # Jittered backoff, so two writes that just deadlocked do not collide again.
            time.sleep(random.uniform(0.02, 0.1) * 2**number)
    raise ApiError(
        503,
        "temporarily_unavailable",
        "The database is busy; send the same request again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
