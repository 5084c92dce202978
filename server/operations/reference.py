"""Operations on reference data. Every create or change takes a new seq from the server counter,
so tablets see it in the `reference` pull stream; an unchanged row keeps its seq."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Area, Country, Item, ReferenceTombstone, Service, Site, Team, team_sites
from server.persistence.seq import next_seq

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


# --- Admin edits (server/commands/reference.py) ----------------------------------------------
# The wire codes of domain.md "Reference data" (sync/codes.py).


class ReferenceEditError(Exception):
    """An admin edit that cannot be made; the message says why (shown by the CLI)."""


def update(session: Session, model: type[M], key: Any, **fields: Any) -> tuple[M, bool]:
    """Change fields of an existing row (a new seq if anything changed)."""
    if session.get(model, key) is None:
        raise ReferenceEditError(f"{model.__tablename__} {key!r} does not exist")
    return upsert(session, model, key, **fields)


def create(session: Session, model: type[M], key: Any, **fields: Any) -> M:
    if session.get(model, key) is not None:
        raise ReferenceEditError(f"{model.__tablename__} {key!r} already exists")
    row, _ = upsert(session, model, key, **fields)
    return row


def site_country(session: Session, area_id: str) -> str:
    area = session.get(Area, area_id)
    if area is None:
        raise ReferenceEditError(f"area {area_id!r} does not exist")
    return area.country_code


def check_same_country(old_country: str, new_country: str, what: str) -> None:
    # Tablets of the old country would keep a row that left their scope, and a team's devices
    # would silently change scope: moving across countries is a delete plus an add.
    if old_country != new_country:
        raise ReferenceEditError(f"{what} cannot move from {old_country} to {new_country}: delete it and add it anew")


def teams_with_site(session: Session, site_id: str) -> list[Team]:
    return list(session.scalars(
        select(Team).join(team_sites, team_sites.c.team_id == Team.id).where(team_sites.c.site_id == site_id)
    ))


def set_site_active(session: Session, site_id: str, active: bool) -> bool:
    """Deactivate (or reactivate) a site. Tablets receive a deactivated site as `remove`; the teams
    that use it get a new seq too, because their pulled `site_ids` list only active sites."""
    site = session.get(Site, site_id)
    if site is None:
        raise ReferenceEditError(f"site {site_id!r} does not exist")
    if site.active == active:
        return False
    site.active = active
    site.seq = next_seq(session)
    for team in teams_with_site(session, site_id):
        team.seq = next_seq(session)
    session.flush()
    return True


def delete(session: Session, model: type[M], key: Any) -> int:
    """Delete a reference row and leave a tombstone, so tablets receive `op: remove`.

    Returns the tombstone's seq. A row still used (a site with records, a team with devices, an
    area with sites...) is refused by the database's foreign keys: ReferenceEditError.
    """
    entities: dict[type, str] = {Country: "country", Area: "area", Site: "site", Team: "team", Item: "item",
                                 Service: "service"}
    row = session.get(model, key)
    if row is None:
        raise ReferenceEditError(f"{model.__tablename__} {key!r} does not exist")
    country: str | None
    if isinstance(row, Country):
        country = row.code
    elif isinstance(row, Area | Team):
        country = row.country_code
    elif isinstance(row, Site):
        country = site_country(session, row.area_id)
    else:
        country = None  # items and services are shared by every country
    try:
        # A savepoint, so a refused delete leaves the caller's transaction as it was.
        with session.begin_nested():
            if isinstance(row, Site):  # its teams' site_ids change: they get a new seq
                for team in teams_with_site(session, key):
                    set_team_sites(session, team, [site_id for site_id in team.site_ids if site_id != key])
            session.delete(row)
            session.flush()
    except IntegrityError as exc:
        raise ReferenceEditError(f"{model.__tablename__} {key!r} is still in use and cannot be deleted") from exc
    tombstone = ReferenceTombstone(entity=entities[model], key=str(key), country_code=country,
                                   seq=next_seq(session))
    session.add(tombstone)
    session.flush()
    return tombstone.seq
