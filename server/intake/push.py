"""The push operation (api.md "Sync": push): batch idempotency around the sync engine.

One batch is one transaction: the records, their revisions, op memory, conflicts, quarantine and
the batch row holding the response to replay are all written in it and committed together by
server/web/transactions.py. A crash before the commit leaves nothing; a retry then applies cleanly.

Batch idempotency (`Idempotency-Key` = `batch_id`), see sync/batches.py for the decisions:
- The batch row is written in the batch's own transaction, never "claimed" in a separate one, so
  there is no half-claimed state to clean up after a crash.
- "In flight" therefore cannot be a row. On PostgreSQL a transaction-scoped advisory lock on the
  key marks it: a second request that cannot take the lock is answered 409 at once; one that takes
  it after the first committed reads the committed row (READ COMMITTED takes a new snapshot per
  statement) and replays it. On SQLite every transaction starts with `BEGIN IMMEDIATE`
  (server/extensions.py), so the second request waits for the first to commit and replays.

Transient database failures (SQLite busy after the busy timeout, PostgreSQL deadlock or
serialization failure, a unique violation from two batches inserting the same op or record at
once) roll the whole batch back and run it again; when retries run out the answer is 503 with
`Retry-After`, never a 500.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from marshmallow import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from config import Limits
from schemas.sync import PushRequestSchema
from server.intake import quarantine
from server.models import Device, SyncBatch
from server.persistence.store import apply_batch, naive_utc, quarantine_batch
from server.persistence.timeutil import isoformat_z
from server.web.auth import seen_long_ago
from server.web.errors import ApiError, flatten_messages
from sync.batches import BatchStatus, InFlight, KeyReused, New, Replay, StoredBatch, decide, key_matches
from sync.domain import CURRENT_SCHEMA_VERSION, MIN_SUPPORTED_SCHEMA_VERSION, DeviceContext
from sync.fingerprint import canonical_json, envelope_fingerprint, fingerprint

log = logging.getLogger(__name__)

T = TypeVar("T")

# A batch row written for a revoked device's push: its mutations are in quarantine. Kept so a
# re-sent refused batch is not quarantined twice.
REFUSED = "refused"

MAX_ATTEMPTS = 4
# Past this much time spent (e.g. one SQLite busy timeout), answer 503 instead of trying again:
# the client retries later, and a gunicorn worker is not held for minutes.
RETRY_BUDGET_SECONDS = 10.0
RETRY_AFTER_SECONDS = 2

# PostgreSQL SQLSTATEs worth running the batch again for.
_TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "23505",  # unique_violation: two batches inserted the same op_id or record id at once
}


@dataclass(frozen=True)
class PushAnswer:
    body: dict[str, Any]
    replayed: bool


class DeviceRevoked(Exception):
    """The device is revoked; what could be kept is in quarantine (the caller must commit it)."""


def push_batch(
    session: Session,
    device: DeviceContext,
    raw: Any,
    *,
    idempotency_key: str | None,
    limits: Limits,
) -> PushAnswer:
    """Apply one push request; raises ApiError for the batch-level answers of api.md."""
    envelope, errors = _load_envelope(raw)
    row = session.get(Device, device.device_id)
    if row is None or row.status != "active":
        if not errors and len(envelope["mutations"]) <= limits.push_max_mutations and key_matches(
            idempotency_key, str(envelope["batch_id"])
        ):
            _with_retries(
                session, lambda: _keep_revoked(session, device, raw, envelope, limits.revoked_quarantine_max)
            )
        # Otherwise nothing is kept: a malformed or oversized envelope holds nothing well-formed
        # to keep, and the device must hear "wipe" whatever it sent.
        raise DeviceRevoked()
    # Before the envelope's own errors: a newer format may well fail this server's schema, and the
    # tablet must hear that the format, not its data, is the problem.
    _check_schema_version(raw)
    if errors:
        raise ApiError(400, "malformed_request", "The push envelope is not valid.", errors)
    count = len(envelope["mutations"])
    if count > limits.push_max_mutations:
        raise ApiError(
            413,
            "payload_too_large",
            f"A batch may hold at most {limits.push_max_mutations} mutations; this one has {count}.",
        )
    batch_id = str(envelope["batch_id"])
    if not key_matches(idempotency_key, batch_id):
        # 400, not 422: api.md reserves 422 for a key reused with another body, and clients
        # branch on it; a missing or different header is a malformed request.
        message = "Missing." if idempotency_key is None else "Must equal batch_id."
        raise ApiError(
            400, "malformed_request", "The Idempotency-Key header must equal batch_id.", {"Idempotency-Key": [message]}
        )
    return _with_retries(session, lambda: _apply(session, device, raw, envelope))


# --- one attempt ------------------------------------------------------------------------------


def _apply(session: Session, device: DeviceContext, raw: dict[str, Any], envelope: dict[str, Any]) -> PushAnswer:
    batch_id = str(envelope["batch_id"])
    mutations: list[Any] = envelope["mutations"]
    # Each item's canonical JSON, made once: the batch's fingerprint is hashed from it, and so is
    # each item's own where the item is already in normal form (sync.push.mutation_fingerprint).
    item_json = [canonical_json(item) for item in mutations]
    body_hash = envelope_fingerprint(raw, "mutations", item_json)
    if not _claim(session, batch_id):
        raise _in_flight()
    stored = session.get(SyncBatch, batch_id)
    if stored is not None and stored.status == REFUSED and stored.device_id == device.device_id:
        # Sent while the device was revoked, and it is active again (revocation undone by hand):
        # its mutations sit in quarantine, so applying them now loses and doubles nothing.
        session.delete(stored)
        session.flush()
        stored = None
    decision = decide(_stored_batch(stored, device), body_hash)
    if isinstance(decision, Replay):
        return PushAnswer(decision.response, replayed=True)
    if isinstance(decision, KeyReused):
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different batch; use a new batch_id for new content.",
        )
    if isinstance(decision, InFlight):
        raise _in_flight()
    assert isinstance(decision, New)

    now = datetime.now(UTC)
    results = apply_batch(session, device, mutations, batch_id=batch_id, now=now,
                          client_time=envelope["client_time"], item_json=item_json)
    client_time: datetime = envelope["client_time"]
    body = {
        "batch_id": batch_id,
        "server_time": isoformat_z(now),
        "clock_offset_ms": round((now - client_time).total_seconds() * 1000),
        "results": [result.to_wire() for result in results],
    }
    naive_now = naive_utc(now)
    session.add(
        SyncBatch(
            batch_id=batch_id,
            device_id=device.device_id,
            body_hash=body_hash,
            status=BatchStatus.DONE.value,
            response=body,
            created_at=naive_now,
            completed_at=naive_now,
        )
    )
    row = session.get(Device, device.device_id)
    if row is not None:
        # Push is where the server learns which app version a tablet runs (GET /devices shows it).
        # Written only when it changes, and last_seen_at only when due (`seen_long_ago`).
        if row.app_version != str(envelope["app_version"]):
            row.app_version = str(envelope["app_version"])
        if seen_long_ago(row.last_seen_at, naive_now):
            row.last_seen_at = naive_now
    session.flush()
    return PushAnswer(body, replayed=False)


def _keep_revoked(
    session: Session, device: DeviceContext, raw: dict[str, Any], envelope: dict[str, Any], maximum: int
) -> None:
    batch_id = str(envelope["batch_id"])
    if not _claim(session, batch_id) or session.get(SyncBatch, batch_id) is not None:
        # Being kept right now, kept before, or applied before the revocation: nothing to add.
        return
    mutations: list[Any] = envelope["mutations"]
    # Bounded per device (server/intake/quarantine.py): past the bound only a count grows, and no batch
    # row is written either, so a flood of new batch ids stores nothing but that count.
    room = quarantine.revoked_room(session, device.device_id, maximum)
    quarantine.count_dropped(session, device.device_id, len(mutations) - min(room, len(mutations)))
    if room == 0:
        return
    now = datetime.now(UTC)
    quarantine_batch(session, device, mutations[:room], batch_id=batch_id, now=now)
    session.add(
        SyncBatch(
            batch_id=batch_id,
            device_id=device.device_id,
            body_hash=fingerprint(raw),
            status=REFUSED,
            response=None,
            created_at=naive_utc(now),
            completed_at=naive_utc(now),
        )
    )
    session.flush()


def _stored_batch(row: SyncBatch | None, device: DeviceContext) -> StoredBatch | None:
    if row is None:
        return None
    if row.device_id != device.device_id:
        # Another device's key: replaying would hand this device another team's results.
        # An impossible body hash makes `decide` answer KeyReused.
        return StoredBatch(body_hash="", status=BatchStatus.DONE, response=None)
    return StoredBatch(body_hash=row.body_hash, status=BatchStatus(row.status), response=row.response)


def _claim(session: Session, batch_id: str) -> bool:
    """Mark the key as in flight until this transaction ends; False if another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": advisory_key(batch_id)}))


def advisory_key(batch_id: str) -> int:
    """A signed 64-bit lock id for a batch key (a collision only costs a spurious 409)."""
    digest = hashlib.sha256(b"fieldsync-push:" + batch_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _in_flight() -> ApiError:
    return ApiError(
        409,
        "batch_in_flight",
        "This batch is still being processed; retry shortly to receive its result.",
        headers={"Retry-After": "1"},
    )


def _check_schema_version(raw: Any) -> None:
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > CURRENT_SCHEMA_VERSION:
        raise ApiError(
            422,
            "schema_unsupported",
            f"This server understands push schema versions {MIN_SUPPORTED_SCHEMA_VERSION} to "
            f"{CURRENT_SCHEMA_VERSION}; nothing of this batch was applied. Keep it and send it again "
            "once the server is updated.",
            {"schema_version": [f"Must be at most {CURRENT_SCHEMA_VERSION}."]},
        )


def _load_envelope(raw: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    try:
        return PushRequestSchema().load(raw), {}
    except ValidationError as exc:
        return {}, flatten_messages(exc.messages)


# --- retries ----------------------------------------------------------------------------------


def is_transient(exc: DBAPIError) -> bool:
    """A database failure that says "try again", not "this request is wrong"."""
    if exc.connection_invalidated:
        return True
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in message or "database is busy" in message)


def _with_retries(session: Session, attempt: Callable[[], T]) -> T:
    started = time.monotonic()
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return attempt()
        except (OperationalError, IntegrityError) as exc:
            if not is_transient(exc):
                raise
            session.rollback()
            elapsed = time.monotonic() - started
            log.warning("push: transient database error (attempt %d, %.1fs): %s", number, elapsed, exc.orig)
            if number == MAX_ATTEMPTS or elapsed > RETRY_BUDGET_SECONDS:
                break
            # Jittered backoff, so two batches that just deadlocked do not collide again.
            time.sleep(random.uniform(0.02, 0.1) * 2**number)
    raise ApiError(
        503,
        "temporarily_unavailable",
        "The database is busy; send the same batch again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
