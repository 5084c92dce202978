"""Pull streams: pages of the `reference` and `records` change feeds for one device scope.

Plain functions over a session; the HTTP layer (server/api/sync_pull.py) only parses and answers.

Why a page can never skip a change: a page is read in ONE statement (one snapshot under READ
COMMITTED) and serves only seqs below that snapshot's horizon (server/persistence/seq.py): on SQLite every seq
the snapshot sees, since the one writer numbers changes in commit order; on PostgreSQL the seqs of
transactions that had all finished when the snapshot was taken. The next cursor is the highest seq
of the page: nothing at or below it can commit later. Rows hold only their latest state and a change gives them a new,
higher seq, so a seq-ordered keyset scan returns each entity once, at its latest version.

Records never leave a team's scope: `team_id` is immutable (sync.domain.IMMUTABLE_FIELDS, enforced
by the push engine), a device that changes team gets 410 through the cursor's scope, and nothing
else moves a record. So the `records` stream has only upserts; a voided record stays an upsert
whose `data.status` is `voided` (api.md "Details"). tests/server/operations/test_pull.py guards the premise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, case, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from server.models import Area, Country, Item, Record, ReferenceTombstone, Service, Site, Team, team_sites
from server.persistence.seq import current_seq, settled
from sync.cursor import Cursor, needs_reset, scope_fingerprint
from sync.domain import Entity, RecordState, RecordStatus

REFERENCE = "reference"
RECORDS = "records"


@dataclass(frozen=True)
class Scope:
    """What a device may pull: its team's records and its country's reference data."""

    team_id: str
    country: str

    @property
    def fingerprint(self) -> str:
        return scope_fingerprint(self.team_id, self.country)


@dataclass(frozen=True)
class Page:
    stream: str
    changes: list[dict[str, Any]]
    last_seq: int  # the seq the next cursor encodes
    has_more: bool

    def next_cursor(self, scope: Scope) -> Cursor:
        return Cursor(stream=self.stream, seq=self.last_seq, scope=scope.fingerprint)


class ResetRequired(Exception):
    """The cursor cannot be served (other stream or scope, pruned history, restored database)."""


def oldest_servable_seq(session: Session, stream: str) -> int:
    """The lowest seq a cursor may hold and still be served.

    Nothing is pruned in v1 (tombstones and records are kept forever), so every cursor is
    servable. Whoever adds a tombstone pruner must raise this floor to the pruned seq.
    """
    return 0


def check_cursor(session: Session, cursor: Cursor | None, *, stream: str, scope: Scope) -> int:
    """The seq to pull after, or ResetRequired."""
    if cursor is None:
        return 0
    if needs_reset(cursor, stream=stream, scope=scope.fingerprint, oldest_seq=oldest_servable_seq(session, stream)):
        raise ResetRequired
    # A cursor ahead of every seq handed out means the database was restored from an older backup:
    # seqs up to the cursor will be handed out again and the client would miss them.
    if cursor.seq > current_seq(session):
        raise ResetRequired
    return cursor.seq


def pull_page(session: Session, *, stream: str, scope: Scope, after_seq: int, limit: int) -> Page:
    if stream == RECORDS:
        return records_page(session, scope=scope, after_seq=after_seq, limit=limit)
    if stream == REFERENCE:
        return reference_page(session, scope=scope, after_seq=after_seq, limit=limit)
    raise ValueError(f"unknown stream {stream!r}")


def stream_page(stream: str, changes: list[dict[str, Any]], after_seq: int, limit: int) -> Page:
    # One row more than asked tells whether another page exists without a COUNT.
    has_more = len(changes) > limit
    changes = changes[:limit]
    last_seq = changes[-1]["seq"] if changes else after_seq
    return Page(stream=stream, changes=changes, last_seq=last_seq, has_more=has_more)


# --- records ---------------------------------------------------------------------------------


def records_page(session: Session, *, scope: Scope, after_seq: int, limit: int) -> Page:
    # Keyset on ix_records_team_id_seq: memory and time per page stay flat however long the team's
    # history is (no OFFSET). Plain rows, not ORM objects: nothing to track, nothing to flush.
    table = Record.__table__
    statement = select(table).where(table.c.team_id == scope.team_id, table.c.seq > after_seq)
    condition = settled(session, table.c.seq)
    if condition is not None:
        statement = statement.where(condition)
    rows = session.execute(statement.order_by(table.c.seq).limit(limit + 1)).mappings().all()
    return stream_page(RECORDS, [record_change(row) for row in rows], after_seq, limit)


def record_state(row: Any) -> RecordState:
    """A stored record (an ORM object or a row mapping of `records`) as the engine's value type."""
    get = row.__getitem__ if isinstance(row, Mapping) else row.__getattribute__
    return RecordState(
        id=get("id"), entity=Entity(get("entity")), team_id=get("team_id"), site_id=get("site_id"),
        occurred_on=get("occurred_on"), recorded_at=get("recorded_at"), version=get("version"),
        status=RecordStatus(get("status")), seq=get("seq"), clock_suspect=bool(get("clock_suspect")),
        data=dict(get("data") or {}), device_id=get("device_id") or "", received_at=get("received_at"),
    )


def record_change(row: Any) -> dict[str, Any]:
    # The engine's own wire shape (RecordState.wire_data), so push conflicts and pulls agree.
    state = record_state(row)
    return {"seq": state.seq, "entity": state.entity.value, "id": state.id, "op": "upsert",
            "version": state.version, "data": state.wire_data()}


# --- reference -------------------------------------------------------------------------------

# Every reference table as rows of one shape, so the whole page is one UNION ALL statement
# (one snapshot): separate queries per table could see a later commit in one table but not an
# earlier one in another, and the cursor would then jump over it.
_COLUMNS = ("entity", "key", "seq", "op", "name", "name_ar", "country", "area_id", "pcode", "site_type", "team_type",
            "category")


def _text(value: str | None) -> Any:
    return literal(value, String) if value is not None else null().cast(String)


def _branch(entity: Any, key: Any, seq: Any, op: Any = "upsert", **columns: Any) -> Any:
    """One table's part of the union, every column labelled (so their order and names match)."""
    values = {"entity": entity, "key": key, "seq": seq, "op": op, **columns}
    return select(*[
        (value if hasattr(value, "label") else _text(value)).label(name)
        for name, value in ((name, values.get(name)) for name in _COLUMNS)
    ])


def _reference_union(scope: Scope, after_seq: int) -> Any:
    country = scope.country
    parts = [
        _branch("country", Country.code, Country.seq, name=Country.name, name_ar=Country.name_ar, country=Country.code)
        .where(Country.code == country, Country.seq > after_seq),
        _branch("area", Area.id, Area.seq, name=Area.name, name_ar=Area.name_ar, country=Area.country_code,
                pcode=Area.pcode)
        .where(Area.country_code == country, Area.seq > after_seq),
        # A deactivated site reaches tablets as a remove: they may no longer record there.
        _branch("site", Site.id, Site.seq, case((Site.active.is_(True), "upsert"), else_="remove"), name=Site.name,
                name_ar=Site.name_ar,
                country=Area.country_code, area_id=Site.area_id, site_type=Site.site_type)
        .join(Area, Area.id == Site.area_id)
        .where(Area.country_code == country, Site.seq > after_seq),
        # A deactivated team too: its tablets stop offering it (its records stay counted).
        _branch("team", Team.id, Team.seq, case((Team.active.is_(True), "upsert"), else_="remove"), name=Team.name,
                name_ar=Team.name_ar, country=Team.country_code, team_type=Team.team_type)
        .where(Team.country_code == country, Team.seq > after_seq),
        # Items and services belong to no country: every programme uses the same catalogue.
        _branch("item", Item.code, Item.seq, name=Item.name, name_ar=Item.name_ar, category=Item.category)
        .where(Item.seq > after_seq),
        _branch("service", Service.code, Service.seq, name=Service.name, name_ar=Service.name_ar)
        .where(Service.seq > after_seq),
        _branch(ReferenceTombstone.entity, ReferenceTombstone.key, ReferenceTombstone.seq, "remove",
                country=ReferenceTombstone.country_code)
        .where(or_(ReferenceTombstone.country_code == country, ReferenceTombstone.country_code.is_(None)),
               ReferenceTombstone.seq > after_seq),
    ]
    return union_all(*parts).subquery("reference_changes")


def reference_page(session: Session, *, scope: Scope, after_seq: int, limit: int) -> Page:
    union = _reference_union(scope, after_seq)
    statement = select(union)
    condition = settled(session, union.c.seq)
    if condition is not None:
        statement = statement.where(condition)
    rows = session.execute(statement.order_by(union.c.seq).limit(limit + 1))
    records = [dict(row) for row in rows.mappings()]
    site_ids = _active_team_sites(session, [r["key"] for r in records[:limit] if r["entity"] == "team"])
    changes = [_reference_change(r, site_ids) for r in records]
    return stream_page(REFERENCE, changes, after_seq, limit)


def _active_team_sites(session: Session, team_ids: list[str]) -> dict[str, list[str]]:
    """Each team's active sites. Read after the page, so at worst newer than the team's row: the
    membership change that made it newer has a higher seq and arrives again later, never lost."""
    if not team_ids:
        return {}
    result: dict[str, list[str]] = {team_id: [] for team_id in team_ids}
    rows = session.execute(
        select(team_sites.c.team_id, team_sites.c.site_id)
        .join(Site, and_(Site.id == team_sites.c.site_id, Site.active.is_(True)))
        .where(team_sites.c.team_id.in_(team_ids))
        .order_by(team_sites.c.team_id, team_sites.c.site_id)
    ).all()
    for team_id, site_id in rows:
        result[team_id].append(site_id)
    return result


def _reference_change(row: dict[str, Any], site_ids: dict[str, list[str]]) -> dict[str, Any]:
    entity, key, seq = row["entity"], row["key"], int(row["seq"])
    if row["op"] == "remove":
        return {"seq": seq, "entity": entity, "id": key, "op": "remove"}
    data: dict[str, Any]
    if entity == "country":
        data = {"code": key, "name": row["name"]}
    elif entity == "area":
        data = {"id": key, "country": row["country"], "name": row["name"], "pcode": row["pcode"]}
    elif entity == "site":
        data = {"id": key, "area_id": row["area_id"], "name": row["name"], "site_type": row["site_type"],
                "active": True}
    elif entity == "team":
        data = {"id": key, "country": row["country"], "name": row["name"], "team_type": row["team_type"],
                "site_ids": site_ids.get(key, [])}
    elif entity == "item":
        data = {"code": key, "name": row["name"], "category": row["category"]}
    else:
        data = {"code": key, "name": row["name"]}
    if row["name_ar"]:  # the Arabic name, only where one is set: other rows keep domain.md's exact shape
        data["name_ar"] = row["name_ar"]
    return {"seq": seq, "entity": entity, "id": key, "op": "upsert", "data": data}
