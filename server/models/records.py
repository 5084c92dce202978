"""Field records (consultation, distribution, outreach, training) and their correction history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db


class Record(db.Model):
    """One record at its latest version. Entity-specific fields live in `data` (JSON); the
    fields every record has, and those used to find a person, are real columns."""

    __tablename__ = "records"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[str] = mapped_column(String(40))
    population_group: Mapped[str | None] = mapped_column(String(20))  # None: a training (domain.md)
    beneficiary_ref: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column()
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    clock_suspect: Mapped[bool] = mapped_column(Boolean, default=False)
    device_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_records_team_id_seq", "team_id", "seq"),
        # A person-month's records (the rollups' recount after a correction or void).
        Index("ix_records_beneficiary_occurred_on", "beneficiary_ref", "entity", "occurred_on"),
        Index("ix_records_entity_occurred_on", "entity", "occurred_on"),
    )


class RecordRevision(db.Model):
    """Who changed what, when and why: version 1 is the create, then each correction or void."""

    __tablename__ = "record_revisions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(10))
    changed: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(36))
    # A coordinator who wrote this version (resolving a conflict or applying a fixed quarantined
    # mutation, server/intake/resolution.py); None for a device's own push. `device_id` then names the
    # device whose values these are.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    op_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("record_id", "version"),)
