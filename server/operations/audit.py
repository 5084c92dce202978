"""The audit log of administrative changes (api.md v1.1 `GET /api/v1/audit`).

Every admin operation (server/operations/admin.py, server/operations/users.py) calls `record` in the same transaction as
the change itself, so a change and its audit entry are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from server.models import AuditEntry, audit_countries
from server.web.auth import Principal
from server.web.pagination import paginate


@dataclass(frozen=True)
class Actor:
    """Who made a change: a signed-in user, or someone at the server's shell (the CLI)."""

    id: int | None
    name: str


CLI_ACTOR = Actor(None, "cli")


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.username or "unknown")


def record(session: Session, actor: Actor, *, action: str, target_type: str, target_id: str,
           countries: Iterable[str | None], before: dict[str, Any] | None, after: dict[str, Any] | None,
           now: datetime) -> AuditEntry:
    """Add one entry. `before`/`after` are the changed object's fields (never a secret)."""
    entry = AuditEntry(at=now, actor_id=actor.id, actor=actor.name, action=action, target_type=target_type,
                       target_id=str(target_id), before=_jsonable(before), after=_jsonable(after))
    session.add(entry)
    session.flush()
    codes = sorted({code for code in countries if code})
    if codes:
        session.execute(insert(audit_countries), [{"audit_id": entry.id, "country_code": code} for code in codes])
    return entry


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {key: item.isoformat() if isinstance(item, datetime) else item for key, item in value.items()}


def audit_page(session: Session, principal: Principal, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """Newest first. A coordinator sees the changes that concern their countries; an admin, all."""
    stmt = select(AuditEntry)
    if principal.countries is not None:
        in_scope = select(audit_countries.c.audit_id).where(
            audit_countries.c.country_code.in_(sorted(principal.countries)))
        stmt = stmt.where(AuditEntry.id.in_(in_scope))
    page = paginate(session, stmt, keys=(AuditEntry.id,), limit=limit, cursor=cursor)
    entries = [entry for (entry,) in page.rows]
    countries: dict[int, list[str]] = {entry.id: [] for entry in entries}
    if entries:
        for audit_id, code in session.execute(
            select(audit_countries.c.audit_id, audit_countries.c.country_code)
            .where(audit_countries.c.audit_id.in_(list(countries)))
            .order_by(audit_countries.c.country_code)
        ):
            countries[audit_id].append(code)
    return page.envelope([_item(entry, countries[entry.id]) for entry in entries])


def _item(entry: AuditEntry, countries: list[str]) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "target_type": entry.target_type, "target_id": entry.target_id, "countries": countries,
            "before": entry.before, "after": entry.after}
