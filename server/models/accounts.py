"""Accounts: people who log in, tablets that sync, and the secrets that prove who is who.

Every secret (password, API token, device token, enrollment code) is stored only as a hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    country_links: Mapped[list[UserCountry]] = relationship(cascade="all, delete-orphan")

    @property
    def countries(self) -> list[str]:
        return sorted(link.country_code for link in self.country_links)


class UserCountry(db.Model):
    """A country programme a user may see and manage (their scope)."""

    __tablename__ = "user_countries"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    country_code: Mapped[str] = mapped_column(ForeignKey("countries.code"), primary_key=True)


class ApiToken(db.Model):
    """A bearer token for a coordinator or admin, issued by `POST /api/v1/auth/token`."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    # Set by `POST /auth/logout`: the token is refused from then on. The row stays until it
    # expires, so the answer stays "revoked", not "unknown token".
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Device(db.Model):
    """A tablet enrolled for one field worker of one team."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    app_version: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="active")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Mutations this device pushed while revoked that were not kept, past the bounded sample in
    # quarantine (server/intake/quarantine.py): a stolen tablet cannot fill the database, and coordinators
    # still see how much it tried.
    quarantine_dropped: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # `app` (the Fieldsync JSON sync client) or `collect` (ODK Collect and the like, through OpenRosa).
    kind: Mapped[str] = mapped_column(String(10), default="app", server_default="app")


class EnrollmentCode(db.Model):
    """A one-time code a coordinator hands to a field worker to enroll a tablet (24 h)."""

    __tablename__ = "enrollment_codes"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    device_id: Mapped[str | None] = mapped_column(String(36))


class AuthFailure(db.Model):
    """A failed login, kept briefly for rate limiting across all worker processes."""

    __tablename__ = "auth_failures"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
