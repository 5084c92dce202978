"""Sync bookkeeping: the change counter, batch and operation idempotency, conflicts, quarantine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.persistence.seq import next_seq_on


class SeqCounter(db.Model):
    """The single server counter behind every `seq` (records and reference data).

    Taking the next value locks this row until commit, so transactions receive their seqs in
    commit order and a pull cursor can never skip a change committed late.
    """

    __tablename__ = "seq_counter"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SyncBatch(db.Model):
    """A pushed batch by its Idempotency-Key, with the response to replay."""

    __tablename__ = "sync_batches"
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36), index=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)


class AppliedOp(db.Model):
    """Every op_id ever applied, kept forever, with its original outcome to repeat."""

    __tablename__ = "applied_ops"
    op_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(36))
    record_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Conflict(db.Model):
    __tablename__ = "conflicts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(36), index=True)
    entity: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str | None] = mapped_column(String(36))
    op_id: Mapped[str] = mapped_column(String(64))
    base_version: Mapped[int] = mapped_column()
    current_version: Mapped[int] = mapped_column()
    mutation: Mapped[dict] = mapped_column(JSON)
    current: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[int | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (Index("ix_conflicts_status_id", "status", "id"),)


def _quarantine_seq(context: Any) -> int:
    """The row's next seq from the one allocator (server/persistence/seq.py), in the writing transaction.

    A column default and onupdate rather than a call in every writer: quarantine rows are inserted
    by the store's Core executemany and resolved by Core UPDATEs, and both run these per row. So a
    device's `quarantine` pull stream (server/operations/quarantine_stream.py) sees a row once when it is kept
    and again, at a new and higher seq, whenever its state changes, with the cursor guarantees of
    the other streams (SQLite: the counter, held to the commit; PostgreSQL: the transaction's own
    range, which readers serve only below their snapshot's horizon).
    """
    return next_seq_on(context.connection)


class QuarantinedMutation(db.Model):
    """A mutation the server did not apply (invalid, or from a revoked device), kept raw."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    device_id: Mapped[str | None] = mapped_column(String(36), index=True)
    team_id: Mapped[str | None] = mapped_column(String(64), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(64))
    op_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(20))
    mutation: Mapped[dict | list | str | None] = mapped_column(JSON)
    errors: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Set when a coordinator resolves it (server/intake/resolution.py): `discarded` (why: `note`) or `applied`.
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Position in the device's `quarantine` pull stream; a new one on every change (see above).
    seq: Mapped[int | None] = mapped_column(BigInteger, default=_quarantine_seq, onupdate=_quarantine_seq)

    __table_args__ = (Index("ix_quarantine_status_id", "status", "id"),
                      Index("ix_quarantine_device_id_seq", "device_id", "seq"))
