"""What quarantine keeps, and for how long (docs/reliability.md "Quarantine: what is kept").

- **Revoked devices keep a bounded sample.** api.md keeps a revoked device's well-formed mutations
  in quarantine so a tablet revoked by mistake loses nothing. A stolen one would otherwise fill the
  database (500 junk mutations per request, thousands of rows a second). At most
  `revoked_quarantine_max` of them are kept per device, the first ones (its last honest work, and
  what a mistakenly revoked tablet sends before it wipes); past that each push only adds to the
  device's `quarantine_dropped` count, one UPDATE, and still gets its 403 + wipe.
- **Unknown fields are redacted once an item is resolved.** A rejected mutation is kept as sent,
  so a coordinator can see and fix it, including fields the server does not know, which may hold
  what must never be stored (`patient_name`). Once the item is discarded or applied their values
  are replaced by `REDACTED`; the keys stay, so what was wrong remains visible.
- **Everything is purged after a retention period** (`QUARANTINE_RETENTION_DAYS`, default 90):
  `flask --app server quarantine purge` deletes older items, open or resolved. Run it daily.

Plain functions over a session: they flush, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from schemas.records import SCHEMAS
from server.models import Device, QuarantinedMutation
from server.web.ratelimit import Backoff, record_failure, retry_after
from sync.push import MUTATION_KEYS

REDACTED = "[redacted]"
REVOKED_REASON = "device_revoked"
RESOLVED = "resolved"

# The record fields each entity's schema declares; anything else in `data` is unknown.
_KNOWN_DATA_FIELDS: dict[str, frozenset[str]] = {
    entity.value: frozenset(schema._declared_fields) for entity, schema in SCHEMAS.items()
}


# --- revoked devices -----------------------------------------------------------------------------


def revoked_room(session: Session, device_id: str, maximum: int) -> int:
    """How many more mutations this revoked device may leave in quarantine.

    Locks the device row until commit (PostgreSQL; SQLite has one writer), so two pushes at once
    cannot both see the same room and together exceed the bound.
    """
    session.execute(select(Device.id).where(Device.id == device_id).with_for_update())
    kept = session.scalar(
        select(func.count(QuarantinedMutation.id)).where(
            QuarantinedMutation.device_id == device_id, QuarantinedMutation.reason == REVOKED_REASON
        )
    )
    return max(0, maximum - int(kept or 0))


# A revoked (perhaps stolen) tablet's pushes are read, parsed and counted a few times, then at a
# doubling interval (30 s up to an hour): between those, it is answered 403 + wipe at once, without
# its body being read, so a flood costs the server an indexed lookup per request and stores nothing.
REVOKED_PUSHES = Backoff(key="", free=3, base=timedelta(seconds=30), cap=timedelta(hours=1),
                         window=timedelta(hours=24))


def revoked_push_throttled(session: Session, device_id: str, now: datetime) -> bool:
    """True if this revoked device's request is to be refused unread; else the read is counted."""
    limits = [replace(REVOKED_PUSHES, key=f"revoked:{device_id}")]
    if retry_after(session, limits, now) is not None:
        return True
    record_failure(session, limits, now)
    return False


def count_dropped(session: Session, device_id: str, dropped: int) -> None:
    if dropped > 0:
        session.execute(
            update(Device)
            .where(Device.id == device_id)
            .values(quarantine_dropped=Device.quarantine_dropped + dropped)
            .execution_options(synchronize_session=False)
        )


# --- redaction -----------------------------------------------------------------------------------


def redact_unknown(mutation: Any) -> Any:
    """The mutation with the value of every field the server does not know replaced by REDACTED.

    Known: the mutation keys of api.md and, in `data`, the fields of its entity's schema. An item
    that is not an object, or whose `data` is not one, is redacted whole: none of it is known. An
    unknown entity makes every `data` field unknown. Known fields keep their values (they hold
    codes, counts and the pseudonymous `beneficiary_ref`; `reason` and `topic` are the text the
    tablet is meant to send).
    """
    if not isinstance(mutation, dict):
        return REDACTED
    redacted: dict[str, Any] = {}
    for key, value in mutation.items():
        if key not in MUTATION_KEYS:
            redacted[key] = REDACTED
        elif key == "data":
            redacted[key] = _redact_data(mutation.get("entity"), value)
        else:
            redacted[key] = value
    return redacted


def _redact_data(entity: Any, data: Any) -> Any:
    if not isinstance(data, dict):
        return REDACTED
    known = _KNOWN_DATA_FIELDS.get(entity, frozenset()) if isinstance(entity, str) else frozenset()
    return {key: value if key in known else REDACTED for key, value in data.items()}


def redact_row(row: QuarantinedMutation) -> None:
    row.mutation = redact_unknown(row.mutation)


# --- retention -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purged:
    deleted: int
    redacted: int


def purge(session: Session, *, retention_days: int, now: datetime, chunk: int = 1000) -> Purged:
    """Delete items received more than `retention_days` ago; redact resolved items still holding
    unknown values (resolved before redaction existed, or by a path that skipped it)."""
    cutoff = now - timedelta(days=retention_days)
    deleted = session.execute(
        delete(QuarantinedMutation)
        .where(QuarantinedMutation.created_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    redacted = 0
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                select(QuarantinedMutation)
                .where(QuarantinedMutation.status == RESOLVED, QuarantinedMutation.id > last_id)
                .order_by(QuarantinedMutation.id)
                .limit(chunk)
            )
        )
        if not rows:
            break
        for row in rows:
            clean = redact_unknown(row.mutation)
            if clean != row.mutation:
                row.mutation = clean
                redacted += 1
        last_id = rows[-1].id
        session.flush()
    return Purged(deleted=int(deleted or 0), redacted=redacted)
