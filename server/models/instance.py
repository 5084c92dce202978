"""Secrets that belong to one deployment (its database), not to one server process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db


class InstanceSecret(db.Model):
    """A random key made once, when the database was migrated, and shared by every process.

    Stored with the data on purpose: every gunicorn worker, every restart and every app server
    in front of the same database then signs and accepts the same pull cursors with no
    configuration. Whoever can read this table can already read every record it protects.
    """

    __tablename__ = "instance_secrets"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)
