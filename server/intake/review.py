"""What coordinators review: open conflicts, quarantined mutations, a record's revisions.

Scope is a filter on the team's country, applied in every query (and so on every page), never a
check after the fact: a coordinator sees the teams of their countries, an admin every team.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.models import Conflict, Device, QuarantinedMutation, Record, RecordRevision, Team, User
from server.persistence.store import record_state
from server.persistence.timeutil import isoformat_z, utc_z_and_offset
from server.web.auth import Principal
from server.web.pagination import Page, encode_cursor, paginate

OPEN = "open"
# A page of the quarantine list stops after the item that takes it past this many bytes (of JSON).
QUARANTINE_PAGE_MAX_BYTES = 1024 * 1024


def _in_scope(stmt: Select[Any], team_column: Any, principal: Principal) -> Select[Any]:
    if principal.countries is None:
        return stmt
    return stmt.join(Team, Team.id == team_column).where(Team.country_code.in_(sorted(principal.countries)))


def conflicts_page(session: Session, principal: Principal, *, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = _in_scope(select(Conflict).where(Conflict.status == OPEN), Conflict.team_id, principal)
    # Newest first by id: ids grow with insertion, and unlike created_at they never tie.
    page: Page = paginate(session, stmt, keys=(Conflict.id,), limit=limit, cursor=cursor)
    return page.envelope([conflict_dict(row) for (row,) in page.rows])


def quarantine_page(session: Session, principal: Principal, *, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = _in_scope(
        select(QuarantinedMutation).where(QuarantinedMutation.status == OPEN), QuarantinedMutation.team_id, principal
    )
    page: Page = paginate(session, stmt, keys=(QuarantinedMutation.id,), limit=limit, cursor=cursor)
    # Bounded in bytes as well as items (issue 29 item 2: one page weighed 22 MB): the page ends after the
    # item that brings it past QUARANTINE_PAGE_MAX_BYTES, and its cursor continues from there.
    items, size = [], 0
    for index, (row,) in enumerate(page.rows):
        item = quarantine_dict(row)
        items.append(item)
        size += len(json.dumps(item, default=str))
        if size > QUARANTINE_PAGE_MAX_BYTES and index + 1 < len(page.rows):
            return {"items": items, "next_cursor": encode_cursor((row.id,))}
    return page.envelope(items)


def record_history(session: Session, principal: Principal, record_id: str) -> dict[str, Any] | None:
    """The record and every revision, oldest first; None if unknown or out of scope."""
    stmt = _in_scope(select(Record).where(Record.id == record_id.strip().lower()), Record.team_id, principal)
    record = session.scalars(stmt).one_or_none()
    if record is None:
        return None
    rows = session.execute(
        select(RecordRevision, User.username)
        .outerjoin(Device, Device.id == RecordRevision.device_id)
        .outerjoin(User, User.id == Device.user_id)
        .where(RecordRevision.record_id == record.id)
        .order_by(RecordRevision.version)
    ).all()
    state = record_state(record)
    data = state.wire_data()
    # UTC with Z, as every list shows times; the device's own offset beside it (issue 30 §7).
    data["recorded_at"], offset = utc_z_and_offset(state.recorded_at)
    return {
        "id": record.id,
        "entity": record.entity,
        "team_id": record.team_id,
        "version": record.version,
        "seq": record.seq,
        "status": record.status,
        "clock_suspect": record.clock_suspect,
        "received_at": isoformat_z(record.received_at),
        "data": data,
        "recorded_at_offset_minutes": offset,
        "revisions": [
            {
                "version": revision.version,
                "kind": revision.kind,
                "changes": revision.changed,
                "reason": revision.reason,
                "device_id": revision.device_id,
                "username": username,
                "op_id": revision.op_id,
                "at": isoformat_z(revision.created_at),
            }
            for revision, username in rows
        ],
    }


def conflict_dict(row: Conflict) -> dict[str, Any]:
    """A conflict as the lists and the resolution endpoint show it."""
    return {
        "id": row.id,
        "record_id": row.record_id,
        "entity": row.entity,
        "team_id": row.team_id,
        "device_id": row.device_id,
        "op_id": row.op_id,
        "base_version": row.base_version,
        "current_version": row.current_version,
        "mutation": row.mutation,
        "current": row.current,
        "status": row.status,
        "created_at": isoformat_z(row.created_at),
    }


def quarantine_dict(row: QuarantinedMutation) -> dict[str, Any]:
    """A quarantined mutation as the lists and the resolution endpoints show it."""
    return {
        "id": row.id,
        "device_id": row.device_id,
        "team_id": row.team_id,
        "batch_id": row.batch_id,
        "op_id": row.op_id,
        "reason": row.reason,
        "mutation": row.mutation,
        "errors": row.errors,
        "status": row.status,
        "created_at": isoformat_z(row.created_at),
    }
