"""The audit log: every administrative change (reference data, users, devices), who made it and when.

Rows are only ever added. `countries` holds the country programmes a change concerns, so a
coordinator reads the changes of their countries; a change that concerns none (an item, a service,
an admin account) is for admins only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db

audit_countries = Table(
    "audit_countries",
    db.metadata,
    Column("audit_id", Integer, ForeignKey("audit_log.id", ondelete="CASCADE"), primary_key=True),
    Column("country_code", String(2), primary_key=True, index=True),
)


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    # The author's id and their username at the time (kept if the account changes); CLI edits have no id.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))  # e.g. "create", "update", "deactivate", "reset_password"
    target_type: Mapped[str] = mapped_column(String(20))  # "country", "area", "site", "team", "user", "device"...
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
