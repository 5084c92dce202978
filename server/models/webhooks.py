"""Webhooks (api.md v1.2): the receivers coordinators register, and the outbox of their events.

`webhook_changes` is the outbox: one row per applied record change that some webhook asks for,
written by the change events' subscriber in the transaction that commits the record
(server/integrations/webhooks/outbox.py), so a crash loses none and a rolled-back batch leaves none. One
row per change however many webhooks want it: the push pays for one body, not one per webhook.

`webhook_events` are the deliveries: the delivery worker routes each committed change to the queue
of every webhook that asks for it (server/integrations/webhooks/routing.py), in one transaction that
also deletes the change, then sends them in (seq, id) order per webhook and keeps each row's outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


class Webhook(db.Model):
    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # May hold user:password@ (sent as Basic authorization); never logged, redacted in answers.
    url: Mapped[str] = mapped_column(String(2048))
    # `whsec_<base64>`: kept, because every delivery is signed with it; shown once, at creation.
    secret: Mapped[str] = mapped_column(String(80))
    countries: Mapped[list[str]] = mapped_column(JSON)
    events: Mapped[list[str]] = mapped_column(JSON)
    # False once the webhook's pending backlog reached WEBHOOK_MAX_PENDING: no new events are written
    # for it (counted in `dropped`); what is pending is still delivered.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # A delivery worker holds the webhook until then (its turn): one worker sends a webhook's
    # events at a time, so they go out in order; a killed worker's lease simply expires.
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)

    def item(self, url: str) -> dict[str, Any]:
        return {"id": self.id, "url": url, "countries": list(self.countries), "events": list(self.events),
                "active": self.active, "created_at": self.created_at}


class WebhookChange(db.Model):
    """A committed record change not yet routed to its webhooks' queues."""

    __tablename__ = "webhook_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    country: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    # The signed body, made when the change committed: the record as it was then.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebhookEvent(db.Model):
    __tablename__ = "webhook_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # The `webhook-id` header: the same on every attempt, so a receiver can drop a repeat.
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    # The signed body, made when the change committed: the record as it was then.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    # When this event's retrying began (its first failed attempt; reset by a manual retry).
    failing_since: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        # The worker's head-of-queue read and the backlog count: a webhook's events by status, in order.
        Index("ix_webhook_events_queue", "webhook_id", "status", "seq", "id"),
        # Retention: finished events older than WEBHOOK_RETENTION_DAYS are deleted.
        Index("ix_webhook_events_finished_at", "finished_at"),
    )
