"""The `quarantine` pull stream: a device's own rejected mutations come back to it (api.md v1.2).

`GET /api/v1/sync/pull?stream=quarantine` lists the mutations this device sent that the server kept
in quarantine, with their reasons and their state: `open` (waiting for a coordinator), `applied`
(a coordinator fixed and applied it; the record then arrives in the `records` stream) or
`discarded` (with the coordinator's note). It is how a field worker learns what became of what they
sent (issue 30 §4).

Same cursor rules as the other streams (server/operations/pull.py): rows take a seq from the one allocator when
kept and again on every change (server/models/sync.py), a page is one statement ordered by seq, so
paging until `has_more` is false returns each item once, at its latest state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import QuarantinedMutation
from server.operations.pull import Page, stream_page
from server.persistence.seq import settled
from server.persistence.timeutil import isoformat_z

QUARANTINE = "quarantine"
OPEN, APPLIED, DISCARDED = "open", "applied", "discarded"


def state(status: str, resolution: str | None) -> str:
    """`open`, or how a coordinator resolved it (`applied`, `discarded`)."""
    return OPEN if status == OPEN else (resolution or DISCARDED)


def quarantine_page(session: Session, *, device_id: str, after_seq: int, limit: int) -> Page:
    # Keyset on ix_quarantine_device_id_seq; plain rows, nothing for the session to track.
    table = QuarantinedMutation.__table__
    statement = select(table).where(table.c.device_id == device_id, table.c.seq > after_seq)
    # Only settled seqs, as every stream (server/persistence/seq.py): on PostgreSQL a row's seq comes
    # from its writer's transaction id, and a lower one may still commit.
    if (condition := settled(session, table.c.seq)) is not None:
        statement = statement.where(condition)
    rows = session.execute(statement.order_by(table.c.seq).limit(limit + 1)).mappings().all()
    return stream_page(QUARANTINE, [quarantine_change(row) for row in rows], after_seq, limit)


def quarantine_change(row: Any) -> dict[str, Any]:
    mutation = row["mutation"]
    sent = mutation if isinstance(mutation, dict) else {}
    return {"seq": int(row["seq"]), "entity": "quarantined_mutation", "id": str(row["id"]), "op": "upsert",
            "data": {
                "op_id": row["op_id"],
                "batch_id": row["batch_id"],
                # What the mutation was about, as sent (strings only: a rejected item may hold anything).
                "kind": sent.get("kind") if isinstance(sent.get("kind"), str) else None,
                "entity": sent.get("entity") if isinstance(sent.get("entity"), str) else None,
                "record_id": sent.get("id") if isinstance(sent.get("id"), str) else None,
                "reason": row["reason"],
                "errors": row["errors"] or {},
                "state": state(row["status"], row["resolution"]),
                "note": row["note"],
                "received_at": isoformat_z(row["created_at"]),
                "resolved_at": isoformat_z(row["resolved_at"]),
                "mutation": mutation,
            }}
