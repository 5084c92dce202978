"""Operations on reference data. Every create or change takes a new seq from the server counter,
so tablets see it in the `reference` pull stream; an unchanged row keeps its seq."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Team
from server.seq import next_seq

M = TypeVar("M", bound=db.Model)  # type: ignore[name-defined]


def upsert(session: Session, model: type[M], key: Any, **fields: Any) -> tuple[M, bool]:
    """Create or update one reference row by primary key. Returns (row, changed)."""
    row = session.get(model, key)
    if row is None:
        row = model(**fields)
        row.seq = next_seq(session)
        session.add(row)
        session.flush()
        return row, True
    changed = any(getattr(row, name) != value for name, value in fields.items())
    if changed:
        for name, value in fields.items():
            setattr(row, name, value)
        row.seq = next_seq(session)
        session.flush()
    return row, changed


def set_team_sites(session: Session, team: Team, site_ids: list[str]) -> bool:
    """Give a team exactly these sites; a change bumps the team's seq."""
    from server.models import Site

    current = sorted(team.site_ids)
    wanted = sorted(site_ids)
    if current == wanted:
        return False
    team.sites = [session.get(Site, site_id) for site_id in wanted]
    team.seq = next_seq(session)
    session.flush()
    return True
