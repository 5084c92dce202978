"""Rollup maintenance: keep `rollup_cells`, `rollup_person_facts` (with their firsts,
`rollup_person_firsts`) and `rollup_distinct_cells` in step with the records.

The push store (server/persistence/store.py) collects a batch's creates, corrections and voids and calls
`apply_changes(session, changes)` once, inside the push transaction, with the records already
flushed; `record_changed(session, before, after)` is the same for one change. A record's
contribution is computed by one function, `contributions`, used alike by the incremental path
(subtract `before` if it was active, add `after` if it is), by the bulk loader and by verify /
rebuild, so the three cannot disagree about what a record is worth.

Cells are changed with `INSERT ... ON CONFLICT DO UPDATE SET value = value + excluded.value`: the
increment happens inside the database, so concurrent pushes touching the same cell both count.

People with a beneficiary_ref cannot be maintained by increments (a minimum cannot be
decremented when the earliest record is corrected or voided), so the facts of each touched
person-month are recomputed from the records table (indexed on beneficiary_ref) instead.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, Protocol

from flask import Flask
from sqlalchemy import Connection, Select, String, and_, any_, bindparam, case, delete, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.aggregation.distinct import (
    DistinctKey,
    PersonFact,
    add_cells,
    own_person_cells,
    person_cells,
)
from server.aggregation.indicators import BY_CODE, INDICATORS, Indicator, Measure, for_entity
from server.models import Item, Record, RollupCell, RollupDistinctCell, RollupPersonFact, RollupPersonFirst, Team
from server.models.rollups import CELL_DIMENSIONS
from server.persistence.events import ChangeBatch, subscribe
from server.persistence.staged import StagedTable, StagedWrites
from server.persistence.store import chunks
from sync.domain import age_band_for_years
from sync.record_types import RECORD_TYPES

ACTIVE = "active"

# (indicator, month, *CELL_DIMENSIONS)
CellKey = tuple[str, ...]

# Every cell is also added to a coarse twin, keyed `<indicator>:place`, with the person and service
# codes (sex, age band, service, visit, item, activity) set to ''. Cells at the finest grain are
# about as many as the records once data is dense (20 sites x 36 months x ~1000 code
# combinations); the place twins stay at sites x months x population groups, so queries that
# only use place, time and population group cost the same at 10^4 and 10^6 records.
PLACE_SUFFIX = ":place"
_PLACE_KEEP = {"team_id", "site_id", "population_group"}


def place_indicator(code: str) -> str:
    return code + PLACE_SUFFIX


def _place_twin(key: CellKey) -> CellKey:
    indicator, month, *dims = key
    return (place_indicator(indicator), month,
            *(value if name in _PLACE_KEEP else "" for name, value in zip(CELL_DIMENSIONS, dims, strict=True)))
# (indicator, country, beneficiary_ref, month)
PersonKey = tuple[str, str, str, str]
# (*PersonKey, *CELL_DIMENSIONS)
FactKey = tuple[str, ...]
# (*PersonKey, population_group): what a person's earliest fact is kept by (`rollup_person_firsts`)
FirstKey = tuple[str, str, str, str, str]


class RecordLike(Protocol):
    """What a contribution needs: `sync.domain.RecordState` and the `Record` model both fit."""

    id: str
    team_id: str
    site_id: str
    occurred_on: date
    data: dict[str, Any]

    @property
    def entity(self) -> Any: ...

    @property
    def status(self) -> Any: ...


class Fact(NamedTuple):
    """The earliest active record of a person with one combination of codes in one month (a named
    tuple, as `PersonFact`: a batch makes one per stored fact it reads)."""

    first_occurred_on: date
    first_record_id: str
    n_records: int

    def merge(self, occurred_on: date, record_id: str) -> Fact:
        first = min((self.first_occurred_on, self.first_record_id), (occurred_on, record_id))
        return Fact(first[0], first[1], self.n_records + 1)


class First(NamedTuple):
    """Of a person's facts of one month and population group, the earliest and its place: all that
    distinct-cell attribution reads of them. Ordered by (day, record id) first, so `min` picks the
    earliest (a record is in one fact per indicator, so no two facts share both). A tuple, not a
    dataclass: a push reads one per returning person-month of the year, thousands a batch, and a
    frozen dataclass' constructor was most of their cost."""

    first_occurred_on: date
    first_record_id: str
    team_id: str
    site_id: str


def first_key(key: FactKey) -> FirstKey:
    # A fact key is (indicator, country, beneficiary_ref, month, team_id, site_id, population_group, ...).
    return key[0], key[1], key[2], key[3], key[6]


def firsts_of(facts: Mapping[FactKey, Fact]) -> dict[FirstKey, First]:
    """The firsts these facts make: per person, month and population group, the earliest fact."""
    firsts: dict[FirstKey, First] = {}
    for key, fact in facts.items():
        candidate = First(fact.first_occurred_on, fact.first_record_id, key[4], key[5])
        current = firsts.get(first_key(key))
        if current is None or candidate < current:
            firsts[first_key(key)] = candidate
    return firsts


@dataclass
class Contribution:
    """What one record adds to one indicator: cell values (finest grain; `all_cells` adds their
    place twins) and, for a person with a beneficiary_ref under a distinct indicator, the fact
    key it belongs to."""

    cells: list[tuple[CellKey, int]]
    fact: FactKey | None = None

    def all_cells(self) -> list[tuple[CellKey, int]]:
        return [*self.cells, *((_place_twin(key), value) for key, value in self.cells)]


class ReferenceLookup:
    """Team -> country and item -> category, cached for the life of one operation."""

    def __init__(self, session: Session, *, preload: bool = False, countries: dict[str, str] | None = None,
                 categories: Mapping[str, str] | None = None) -> None:
        self.session = session
        self._countries: dict[str, str] = dict(countries or {})
        self._categories: dict[str, str | None] = dict(categories or {})
        if preload:
            self._countries = dict(session.execute(select(Team.id, Team.country_code)).all())
            self._categories = dict(session.execute(select(Item.code, Item.category)).all())

    def country(self, team_id: str) -> str:
        if team_id not in self._countries:
            team = self.session.get(Team, team_id)
            if team is None:  # the store validated the team; a missing one is a bug upstream
                raise LookupError(f"unknown team {team_id!r}")
            self._countries[team_id] = team.country_code
        return self._countries[team_id]

    def category(self, item_code: str | None) -> str | None:
        if item_code is None:
            return None
        if item_code not in self._categories:
            item = self.session.get(Item, item_code)
            self._categories[item_code] = item.category if item is not None else None
        return self._categories[item_code]


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def year_quarter_of(month: str) -> tuple[int, str]:
    year, month_number = int(month[:4]), int(month[5:7])
    return year, f"{year:04d}Q{(month_number - 1) // 3 + 1}"


def _field(record: RecordLike, name: str) -> Any:
    # population_group and beneficiary_ref are also real columns of `records`; RecordState has
    # them only in data. Read data first, the column as a fallback, so both shapes agree.
    value = (record.data or {}).get(name)
    if value is None and name in ("population_group", "beneficiary_ref"):
        value = getattr(record, name, None)
    return value


def _age_band(record: RecordLike) -> str:
    band = _field(record, "age_band")
    if band is None and _field(record, "age_years") is not None:
        band = age_band_for_years(int(_field(record, "age_years")))
    return band or ""


@dataclass(frozen=True)
class RecordCells:
    """What every indicator reads of one record: its month and cell dimensions (computed once
    per record, not once per indicator)."""

    month: str
    dims: dict[str, str]


# Per entity, the (cell column, data field) of each dimension its record type reads from data; the
# other cell columns stay '' (an outreach's free-text `topic` is not the training dimension `topic`).
_DATA_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    entity.value: tuple((dim.name, dim.field) for dim in record_type.data_dimensions if dim.name != "age_band")
    for entity, record_type in RECORD_TYPES.items()
}
_EMPTY_DIMS = dict.fromkeys(CELL_DIMENSIONS[2:], "")
_WITH_AGE_BAND = frozenset(entity.value for entity, record_type in RECORD_TYPES.items()
                           if "age_band" not in record_type.not_applicable)


def record_cells(record: RecordLike) -> RecordCells:
    dims = {"team_id": record.team_id, "site_id": record.site_id, **_EMPTY_DIMS}
    entity = str(record.entity)
    for column, name in _DATA_COLUMNS[entity]:
        dims[column] = _field(record, name) or ""
    if entity in _WITH_AGE_BAND:
        dims["age_band"] = _age_band(record)
    return RecordCells(month_of(record.occurred_on), dims)


def contributions(indicator: Indicator, record: RecordLike, ref: ReferenceLookup,
                  cells: RecordCells | None = None) -> Contribution:
    """What `record` adds to `indicator` (nothing unless it is an active record of its entity
    passing the indicator's record filter). `cells`: the record's `record_cells`, if known."""
    if str(record.entity) != indicator.entity.value or str(record.status) != ACTIVE:
        return Contribution([])
    cells = cells or record_cells(record)
    month, dims = cells.month, cells.dims
    if indicator.item_category is not None and ref.category(dims["item"] or None) != indicator.item_category:
        return Contribution([])

    def key(**overrides: str) -> CellKey:
        values = {**dims, **overrides}
        return (indicator.code, month, *(values[name] for name in CELL_DIMENSIONS))

    if indicator.measure is Measure.COUNT:
        return Contribution([(key(), 1)])
    if indicator.measure is Measure.SUM:
        return Contribution([(key(), int(_field(record, indicator.field or "") or 0))])
    if indicator.measure.is_tally:
        # One record feeds one cell per tally (outreach: by sex and age band; training: by sex);
        # zero tallies add nothing.
        tally = indicator.record_type.tally
        assert tally is not None  # noqa: S101 - a tally measure's record type declares one
        names = [dim.name for dim in tally.keys]
        return Contribution([
            (key(**dict(zip(names, path, strict=True))), int(count))
            for path, count in tally.counts(_field(record, tally.field) or {})
            if count
        ])
    beneficiary = _field(record, "beneficiary_ref")
    if not beneficiary:
        # domain.md: without a beneficiary_ref the record is one person of its own.
        return Contribution([(key(), 1)])
    country = ref.country(record.team_id)
    return Contribution([], (indicator.code, country, beneficiary, month, *(dims[n] for n in CELL_DIMENSIONS)))


def _person_keys(record: RecordLike, ref: ReferenceLookup) -> list[PersonKey]:
    """Person-months of distinct indicators this record could be part of, whatever its status
    or item: a superset, so a record leaving an indicator (voided, item corrected) is handled."""
    beneficiary = _field(record, "beneficiary_ref")
    if not beneficiary:
        return []
    country = ref.country(record.team_id)
    return [
        (indicator.code, country, beneficiary, month_of(record.occurred_on))
        for indicator in for_entity(str(record.entity))
        if indicator.is_distinct
    ]


# --- maintenance ------------------------------------------------------------------------------


def record_changed(session: Session, before: RecordLike | None, after: RecordLike) -> None:
    """The push engine's hook: `after` is flushed to `records`; `before` is None on create."""
    apply_changes(session, [(before, after)])


def on_record_changes(batch: ChangeBatch) -> None:
    """The rollups' subscriber to the unit of work's change events (registered by `init_app`)."""
    # The device's team and country are known: the rollups need not look them up.
    ref = ReferenceLookup(batch.session, countries={batch.device.team_id: batch.device.country},
                          categories=batch.reference.item_categories)
    apply_changes(batch.session, [(change.before, change.after) for change in batch.changes], ref, batch.staged)


def init_app(app: Flask) -> None:
    subscribe(on_record_changes)


def apply_changes(session: Session, changes: Sequence[tuple[RecordLike | None, RecordLike]],
                  ref: ReferenceLookup | None = None, staged: StagedWrites | None = None) -> None:
    """Apply many record changes at once (the bulk loader uses this with `before=None`).

    The upserts (facts, cells, distinct cells) go to `staged`, written by its owner with the rest
    of the write's tail; without it they are written before returning. Either way after the
    people's locks and the reads of their facts, so every writer takes its locks in one order."""
    ref = ref or ReferenceLookup(session)
    writes = staged if staged is not None else StagedWrites(session)
    deltas: dict[CellKey, int] = defaultdict(int)
    # Person-months a correction or void touched: recomputed from the records (a minimum cannot be
    # decremented). A create only adds a record, so its facts are merged in by an upsert instead,
    # without reading the person's records: most of a push is creates.
    recompute: set[PersonKey] = set()
    added: dict[FactKey, Fact] = {}
    for before, after in changes:
        for state, sign in ((before, -1), (after, 1)):
            if state is None:
                continue
            cells = record_cells(state)
            for indicator in for_entity(str(state.entity)):
                contribution = contributions(indicator, state, ref, cells)
                for cell_key, value in contribution.all_cells():
                    deltas[cell_key] += sign * value
                if before is None and contribution.fact is not None:
                    current = added.get(contribution.fact)
                    added[contribution.fact] = (Fact(state.occurred_on, state.id, 1) if current is None
                                                else current.merge(state.occurred_on, state.id))
            if before is not None:
                recompute.update(_person_keys(state, ref))
    deltas = {k: v for k, v in deltas.items() if v}
    distinct = people_of_their_own(deltas)
    # A person-month also recomputed reads this batch's creates from the records already.
    added = {key: fact for key, fact in added.items() if key[:4] not in recompute}
    touched = recompute | {key[:4] for key in added}
    if touched:
        _lock_people(session, touched)
        # The distinct cells are a function of each person's firsts in a year: read them as they
        # are, work out what the writes below make of them, and add the difference.
        before = stored_firsts(session, touched)
        after = dict(before)
        if recompute:
            # The recount reads the records: the batch's new ones may still be staged.
            writes.flush()
            fresh = _refresh_people(session, recompute, ref)
            for key in [key for key in after if key[:4] in recompute]:
                del after[key]
            after.update(fresh)
        if added:
            for key, first in _merge_facts(writes, added).items():
                current = after.get(key)
                after[key] = first if current is None else min(current, first)
        add_cells(distinct, distinct_changes(before, after))
    _add_to_cells(writes, deltas)
    _add_to_distinct_cells(writes, {key: value for key, value in distinct.items() if value})
    if staged is None:
        writes.flush()


def cell_row(key: CellKey, value: int) -> dict[str, Any]:
    indicator, month, *dims = key
    year, quarter = year_quarter_of(month)
    return {"indicator": indicator, "month": month, "year": year, "quarter": quarter,
            **dict(zip(CELL_DIMENSIONS, dims, strict=True)), "value": value}


def _add_to_cells(writes: StagedWrites, deltas: dict[CellKey, int]) -> None:
    # Sorted, so two concurrent pushes lock shared cells in the same order (no deadlock on PostgreSQL).
    writes.add(CELLS, [cell_row(key, deltas[key]) for key in sorted(deltas)])


@dataclass(frozen=True)
class _Upserts:
    cells: Any
    facts: Any
    firsts: Any
    distinct: Any


_UPSERTS: dict[str, _Upserts] = {}


def _upsert_statements(session: Session) -> _Upserts:
    return _upserts_of(session.get_bind().dialect.name)


def _upserts_of(dialect: str) -> _Upserts:
    """The upserts of a dialect, built once per process: building `excluded` makes a column
    collection each time, and that was a tenth of a one-record push's CPU."""
    if dialect not in _UPSERTS:
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        cells_table = RollupCell.__table__
        cells = make(cells_table)
        cells = cells.on_conflict_do_update(
            index_elements=["indicator", "month", *CELL_DIMENSIONS],
            set_={"value": cells_table.c.value + cells.excluded.value},
        )
        facts = make(RollupPersonFact.__table__)
        new, old = facts.excluded, RollupPersonFact.__table__.c
        earlier = or_(new.first_occurred_on < old.first_occurred_on,
                      and_(new.first_occurred_on == old.first_occurred_on, new.first_record_id < old.first_record_id))
        # SET expressions read the row as it was, so the three see the same old values.
        facts = facts.on_conflict_do_update(
            index_elements=["indicator", "country", "beneficiary_ref", "month", *CELL_DIMENSIONS],
            set_={
                "n_records": old.n_records + new.n_records,
                "first_occurred_on": case((earlier, new.first_occurred_on), else_=old.first_occurred_on),
                "first_record_id": case((earlier, new.first_record_id), else_=old.first_record_id),
            },
        )
        firsts = make(RollupPersonFirst.__table__)
        new, old = firsts.excluded, RollupPersonFirst.__table__.c
        earlier = or_(new.first_occurred_on < old.first_occurred_on,
                      and_(new.first_occurred_on == old.first_occurred_on, new.first_record_id < old.first_record_id))
        # The place follows the earliest fact, so all four move together (SET reads the old row).
        firsts = firsts.on_conflict_do_update(
            index_elements=list(FIRST_KEY_COLUMNS),
            set_={name: case((earlier, new[name]), else_=old[name])
                  for name in ("first_occurred_on", "first_record_id", "team_id", "site_id")},
        )
        distinct_table = RollupDistinctCell.__table__
        distinct = make(distinct_table)
        distinct = distinct.on_conflict_do_update(
            index_elements=list(DISTINCT_KEY_COLUMNS),
            set_={"value": distinct_table.c.value + distinct.excluded.value},
        )
        _UPSERTS[dialect] = _Upserts(cells, facts, firsts, distinct)
    return _UPSERTS[dialect]


def _lock_people(session: Session, persons: Iterable[PersonKey]) -> None:
    """Serialise recomputations of one person on PostgreSQL: without it two transactions could
    each rebuild a person-month without seeing the other's new record, and the later commit
    would drop one. Keyed by (country, person): writers of different people never wait for each
    other (nothing else in the write path is shared by every writer: cells are keyed by team and
    site, facts by person). SQLite runs one writer at a time (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({int.from_bytes(hashlib.sha256(f"{p[1]}\x00{p[2]}".encode()).digest()[:8], "big", signed=True)
                   for p in persons})
    # One round trip for the whole batch, not one per person: unnest yields the array in order,
    # so the locks are still taken in sorted order (two writers cannot deadlock on them).
    session.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS BIGINT[])) AS k"),
                    {"keys": keys})


def _merge_facts(writes: StagedWrites, added: dict[FactKey, Fact]) -> dict[FirstKey, First]:
    """Add new records' facts to the stored ones, and their firsts to the stored firsts: the earlier
    (day, record id) stays first and the counts add up. Returns the new facts' firsts."""
    firsts = firsts_of(added)
    # Sorted, as the cells: concurrent writers meet shared rows in the same order.
    writes.add(FACTS, [fact_row(key, fact) for key, fact in sorted(added.items())])
    writes.add(FIRSTS, [first_row(key, first) for key, first in sorted(firsts.items())])
    return firsts


def _refresh_people(session: Session, persons: set[PersonKey], ref: ReferenceLookup) -> dict[FirstKey, First]:
    """Recompute the facts of these person-months, and their firsts, from the records table (the
    caller holds their locks); returns the firsts."""
    facts = facts_for_people(session, persons, ref)
    firsts = firsts_of(facts)
    keys = [{"p_indicator": p[0], "p_country": p[1], "p_ref": p[2], "p_month": p[3]} for p in sorted(persons)]
    fresh = ((RollupPersonFact.__table__, [fact_row(key, fact) for key, fact in sorted(facts.items())]),
             (RollupPersonFirst.__table__, [first_row(key, first) for key, first in sorted(firsts.items())]))
    for table, rows in fresh:
        # One indexed equality delete per person-month (executemany): an OR of many pairs would make
        # SQLite scan the whole table, and the load would grow quadratic with the people.
        session.execute(
            delete(table).where(table.c.indicator == bindparam("p_indicator"),
                                table.c.country == bindparam("p_country"),
                                table.c.beneficiary_ref == bindparam("p_ref"), table.c.month == bindparam("p_month")),
            keys,
        )
        if rows:
            session.execute(insert(table), rows)
    return firsts


# What `contributions` reads of a record (RecordLike), under the same names.
_CONTRIBUTION_COLUMNS = (Record.id, Record.entity, Record.status, Record.team_id, Record.site_id, Record.occurred_on,
                         Record.data, Record.population_group, Record.beneficiary_ref)


# A month of some people's active records of one entity, on ix_records_beneficiary_occurred_on
# (beneficiary_ref, entity, occurred_on): built once, expanding IN.
_PERSON_MONTH_RECORDS = select(*_CONTRIBUTION_COLUMNS).where(
    Record.beneficiary_ref.in_(bindparam("refs", expanding=True)), Record.entity == bindparam("entity"),
    Record.occurred_on >= bindparam("month_start"), Record.occurred_on < bindparam("month_end"),
    Record.status == ACTIVE)


def facts_for_people(session: Session, persons: set[PersonKey], ref: ReferenceLookup) -> dict[FactKey, Fact]:
    """The facts of these person-months, computed from their active records of those months only:
    a person's other months are not read, so a correction costs the same however long the
    person's history is (a patient seen monthly for years)."""
    wanted: dict[tuple[str, str], set[PersonKey]] = defaultdict(set)  # (entity, month) -> person keys
    for person in persons:
        wanted[(BY_CODE[person[0]].entity.value, person[3])].add(person)
    facts: dict[FactKey, Fact] = {}
    for (entity, month), month_persons in sorted(wanted.items()):
        start = date(int(month[:4]), int(month[5:7]), 1)
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        refs = sorted({p[2] for p in month_persons})
        for chunk in chunks(refs, 500):
            # Plain rows of the columns a contribution reads, not ORM objects.
            rows = session.execute(_PERSON_MONTH_RECORDS, {"refs": list(chunk), "entity": entity,
                                                           "month_start": start, "month_end": end})
            accumulate_facts(facts, rows, ref, only=month_persons)  # type: ignore[arg-type]
    return facts


def accumulate_facts(facts: dict[FactKey, Fact], records: Iterable[RecordLike], ref: ReferenceLookup,
                     only: set[PersonKey] | None = None) -> None:
    for record in records:
        for indicator in for_entity(str(record.entity)):
            if not indicator.is_distinct:
                continue
            fact_key = contributions(indicator, record, ref).fact
            if fact_key is None or (only is not None and fact_key[:4] not in only):
                continue
            current = facts.get(fact_key)
            facts[fact_key] = (Fact(record.occurred_on, record.id, 1) if current is None
                               else current.merge(record.occurred_on, record.id))


def fact_row(key: FactKey, fact: Fact) -> dict[str, Any]:
    indicator, country, beneficiary, month, *dims = key
    year, quarter = year_quarter_of(month)
    return {"indicator": indicator, "country": country, "beneficiary_ref": beneficiary, "month": month,
            "year": year, "quarter": quarter, **dict(zip(CELL_DIMENSIONS, dims, strict=True)),
            "first_occurred_on": fact.first_occurred_on, "first_record_id": fact.first_record_id,
            "n_records": fact.n_records}


# A stored fact as a row: its key (FactKey's order), then the fact.
FACT_COLUMNS = ("indicator", "country", "beneficiary_ref", "month", *CELL_DIMENSIONS,
                "first_occurred_on", "first_record_id", "n_records")


def select_facts() -> Select[Any]:
    """Stored facts as rows of FACT_COLUMNS (add the WHERE); `fact_of_row` reads one."""
    table = RollupPersonFact.__table__
    return select(*(table.c[name] for name in FACT_COLUMNS))


def fact_of_row(row: Sequence[Any]) -> tuple[FactKey, Fact]:
    return tuple(row[:-3]), Fact(row[-3], row[-2], row[-1])


FIRST_KEY_COLUMNS = ("indicator", "country", "beneficiary_ref", "month", "population_group")
# A stored first as a row: its key (FirstKey's order), then the first (First's order).
FIRST_COLUMNS = (*FIRST_KEY_COLUMNS, "first_occurred_on", "first_record_id", "team_id", "site_id")


def first_row(key: FirstKey, first: First) -> dict[str, Any]:
    return {**dict(zip(FIRST_KEY_COLUMNS, key, strict=True)), "first_occurred_on": first.first_occurred_on,
            "first_record_id": first.first_record_id, "team_id": first.team_id, "site_id": first.site_id}


def select_firsts() -> Select[Any]:
    """Stored firsts as rows of FIRST_COLUMNS (add the WHERE); `first_of_row` reads one."""
    table = RollupPersonFirst.__table__
    return select(*(table.c[name] for name in FIRST_COLUMNS))


def first_of_row(row: Sequence[Any]) -> tuple[FirstKey, First]:
    return (row[0], row[1], row[2], row[3], row[4]), First(row[5], row[6], row[7], row[8])


# --- distinct cells (server/aggregation/distinct.py) ----------------------------------------------

DISTINCT_KEY_COLUMNS = ("indicator", "period", "earlier_groups", "start_month", "team_id", "site_id",
                        "population_group")


def _person_fact(key: FactKey, fact: Fact) -> PersonFact:
    # A fact key is (indicator, country, beneficiary_ref, month, team_id, site_id, population_group, ...).
    return PersonFact(key[3], key[4], key[5], key[6], fact.first_occurred_on, fact.first_record_id)


def _person_first(key: FirstKey, first: First) -> PersonFact:
    return PersonFact(key[3], first.team_id, first.site_id, key[4], first.first_occurred_on, first.first_record_id)


def stored_firsts(session: Session, persons: set[PersonKey]) -> dict[FirstKey, First]:
    """What the distinct cells need of these people's stored facts in the years of these
    person-months: of each month and population group, the earliest fact (the only one
    `person_cells` can attribute a bucket to), as `rollup_person_firsts` keeps it. So the rows a
    batch reads per person stay at most months x groups, however many records and combinations of
    sex, service, visit... the person has, and nothing is ranked or sorted in the writer's
    transaction."""
    years: dict[tuple[str, str, str], set[int]] = defaultdict(set)  # person -> years
    for indicator, country, beneficiary, month in persons:
        years[(indicator, country, beneficiary)].add(int(month[:4]))
    statement = _stored_firsts_statement(session)
    firsts: dict[FirstKey, First] = {}
    for indicator, country in sorted({person[:2] for person in years}):
        people = [person for person in years if person[:2] == (indicator, country)]
        refs = sorted(person[2] for person in people)
        # Only the touched years' months: a person's firsts of other years are never read, so the
        # read does not grow with a long history.
        first = min(min(years[person]) for person in people)
        last = max(max(years[person]) for person in people)
        for chunk in chunks(refs, 500):
            rows = session.execute(statement, {"indicator": indicator, "country": country, "refs": list(chunk),
                                               "first_month": f"{first:04d}-01", "last_month": f"{last:04d}-12"})
            for row in rows:
                key, stored = first_of_row(row)
                if int(key[3][:4]) in years[(key[0], key[1], key[2])]:
                    firsts[key] = stored
    return firsts


_STORED_FIRSTS: dict[str, Any] = {}


def _stored_firsts_statement(session: Session) -> Any:
    """Some people's firsts of a range of months, by the key index's prefix (indicator, country,
    beneficiary_ref, month).

    On PostgreSQL one array of refs, not 500 bound values: psycopg prepares a
    statement after its fifth run, and the generic plan PostgreSQL then picked for `IN (500 values)
    AND month BETWEEN ...` on the person facts scanned the (indicator, month) index instead, 110-260 ms
    against 10 ms (seen loading 1,000,000 records). Firsts of years between the first and last asked
    are dropped in Python.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _STORED_FIRSTS:
        table = RollupPersonFirst.__table__
        refs = (table.c.beneficiary_ref == any_(bindparam("refs", type_=postgresql.ARRAY(String)))
                if dialect == "postgresql" else table.c.beneficiary_ref.in_(bindparam("refs", expanding=True)))
        _STORED_FIRSTS[dialect] = select_firsts().where(
            table.c.indicator == bindparam("indicator"), table.c.country == bindparam("country"), refs,
            table.c.month >= bindparam("first_month"), table.c.month <= bindparam("last_month"))
    return _STORED_FIRSTS[dialect]


def distinct_changes(before: Mapping[FirstKey, First], after: Mapping[FirstKey, First]) -> dict[DistinctKey, int]:
    """What the distinct cells gain when these people's firsts go from `before` to `after`."""
    # Only the people some of whose firsts changed: a returning person's later visit in a month they
    # were already seen in leaves every first as it was, and most of a batch of returning people is
    # that; their thousands of firsts are then compared, not turned into attribution facts.
    changed = {key[:3] for key, first in after.items() if before.get(key) != first}
    changed.update(key[:3] for key in before if key not in after)
    people: dict[tuple[str, ...], tuple[list[PersonFact], list[PersonFact]]] = defaultdict(lambda: ([], []))
    for side, firsts in enumerate((before, after)):
        for key, first in firsts.items():
            if key[:3] in changed:
                people[key[:3]][side].append(_person_first(key, first))
    changes: dict[DistinctKey, int] = defaultdict(int)
    for (indicator, _, _), (old, new) in people.items():
        add_cells(changes, person_cells(indicator, old), -1)
        add_cells(changes, person_cells(indicator, new))
    return {key: value for key, value in changes.items() if value}


def distinct_row(key: DistinctKey, value: int) -> dict[str, Any]:
    indicator, period, earlier, start, team_id, site_id, group = key
    year, quarter = year_quarter_of(start)
    return {"indicator": indicator, "period": period, "earlier_groups": earlier, "start_month": start, "year": year,
            "quarter": "" if period == "year" else quarter, "month": start if period == "month" else "",
            "team_id": team_id, "site_id": site_id, "population_group": group, "value": value}


def _add_to_distinct_cells(writes: StagedWrites, changes: dict[DistinctKey, int]) -> None:
    # Sorted, as the cells: concurrent writers meet shared rows in the same order.
    writes.add(DISTINCT_CELLS, [distinct_row(key, changes[key]) for key in sorted(changes)])


def _pg_conflict(upsert: Any) -> str:
    """The ON CONFLICT clause of a PostgreSQL upsert as text, for the staged writes' one statement:
    the very clause the executemany sends, so the two cannot disagree."""
    compiled = str(upsert.compile(dialect=postgresql.dialect()))
    return compiled[compiled.index(" ON CONFLICT "):]


# The rollups' staged upserts (server/persistence/staged.py), in the order they are written: facts,
# firsts, cells, distinct cells (after the people's advisory locks, before revisions and op memory).
FACTS = StagedTable(RollupPersonFact.__table__, order=10, pg_conflict=_pg_conflict(_upserts_of("postgresql").facts),
                    statement=lambda session: _upsert_statements(session).facts)
FIRSTS = StagedTable(RollupPersonFirst.__table__, order=15,
                     pg_conflict=_pg_conflict(_upserts_of("postgresql").firsts),
                     statement=lambda session: _upsert_statements(session).firsts)
CELLS = StagedTable(RollupCell.__table__, order=20, pg_conflict=_pg_conflict(_upserts_of("postgresql").cells),
                    statement=lambda session: _upsert_statements(session).cells)
DISTINCT_CELLS = StagedTable(RollupDistinctCell.__table__, order=30,
                             pg_conflict=_pg_conflict(_upserts_of("postgresql").distinct),
                             statement=lambda session: _upsert_statements(session).distinct)


# The place twins of the distinct indicators, whose cells count the records without a beneficiary_ref.
_OWN_PEOPLE_CODES = {place_indicator(indicator.code): indicator.code for indicator in INDICATORS
                     if indicator.is_distinct}


# The prefix of a cell key that `people_of_their_own` reads.
_OWN_PEOPLE_KEY = ("indicator", "month", "team_id", "site_id", "population_group")


def people_of_their_own(cells: Mapping[CellKey, int]) -> dict[DistinctKey, int]:
    """The distinct cells these cell changes make: records without a beneficiary_ref, a person each."""
    changes: dict[DistinctKey, int] = defaultdict(int)
    for key, value in cells.items():
        code = _OWN_PEOPLE_CODES.get(key[0])
        if code is not None and value:
            # A cell key is (indicator, month, team_id, site_id, population_group, ...).
            add_cells(changes, own_person_cells(code, key[1], key[2], key[3], key[4], value))
    return changes


def expected_distinct_cells(session: Session | Connection, indicator: str) -> dict[DistinctKey, int]:
    """The distinct cells of one indicator as its stored facts and place cells make them, the facts
    streamed person by person (memory grows with the cells, not the people): what verify expects,
    rebuild writes and migration 0011 fills."""
    cells_table = RollupCell.__table__
    # Only the key columns `people_of_their_own` reads (a place cell is unique by them): migration
    # 0011 runs this on a table that does not have the later dimension columns yet.
    place = session.execute(select(*(cells_table.c[name] for name in _OWN_PEOPLE_KEY), cells_table.c.value)
                            .where(cells_table.c.indicator == place_indicator(indicator)))
    cells: dict[DistinctKey, int] = defaultdict(int)
    add_cells(cells, people_of_their_own({tuple(row[:-1]): int(row[-1]) for row in place}))
    table = RollupPersonFact.__table__
    # A fact key's prefix up to the population group is all `_person_fact` reads (and all 0011 has).
    statement = (select(*(table.c[name] for name in (*FACT_COLUMNS[:7], *FACT_COLUMNS[-3:])))
                 .where(table.c.indicator == indicator)
                 .order_by(table.c.country, table.c.beneficiary_ref)
                 .execution_options(yield_per=5000))
    person: tuple[str, str] | None = None
    facts: list[PersonFact] = []
    for row in session.execute(statement):
        key, fact = fact_of_row(row)
        if (key[1], key[2]) != person:
            add_cells(cells, person_cells(indicator, facts))
            person, facts = (key[1], key[2]), []
        facts.append(_person_fact(key, fact))
    add_cells(cells, person_cells(indicator, facts))
    return {key: value for key, value in cells.items() if value}


def write_distinct_cells(session: Session | Connection, indicator: str) -> int:
    """Insert the distinct cells of one indicator as `expected_distinct_cells` gives them (into an
    empty table: rebuild and migration 0011); returns how many."""
    cells = expected_distinct_cells(session, indicator)
    if cells:
        session.execute(insert(RollupDistinctCell.__table__), [distinct_row(k, v) for k, v in sorted(cells.items())])
    return len(cells)
