"""Recompute every rollup from the raw records; compare with what is stored, or rebuild.

Recomputation streams the records through `rollups.contributions`, the function the incremental
path uses, so verify checks that increments never drifted from a full recount. Both work one month
at a time (see `months`), so their memory is bounded by the busiest month, not the whole database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from server.aggregation.indicators import INDICATORS, for_entity
from server.aggregation.rollups import (
    DISTINCT_KEY_COLUMNS,
    CellKey,
    Fact,
    FactKey,
    First,
    FirstKey,
    ReferenceLookup,
    accumulate_facts,
    cell_row,
    contributions,
    expected_distinct_cells,
    fact_of_row,
    fact_row,
    first_of_row,
    first_row,
    firsts_of,
    month_of,
    select_facts,
    select_firsts,
    write_distinct_cells,
)
from server.models import Record, RollupCell, RollupDistinctCell, RollupPersonFact, RollupPersonFirst
from server.models.rollups import CELL_DIMENSIONS
from sync.record_types import RECORD_TYPES

ENTITIES = tuple(entity.value for entity in RECORD_TYPES)
_BATCH = 5000


@dataclass(frozen=True)
class Rollups:
    cells: dict[CellKey, int]
    facts: dict[FactKey, Fact]
    firsts: dict[FirstKey, First]


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[str, ...]
    stored: object
    expected: object

    def __str__(self) -> str:
        return f"{self.table} {'/'.join(self.key)}: stored {self.stored}, expected {self.expected}"


ProgressCallback = Callable[[str], None]


def _month_bounds(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), date(year + number // 12, number % 12 + 1, 1)


def months(session: Session) -> list[str]:
    """Every month that has records or stored rollups, in order: the unit verify and rebuild work in.

    Cells and person facts are keyed by month and a record contributes only to its own month, so each
    month can be recounted and compared alone: memory grows with the busiest month, not the database.
    """
    found = {month_of(day) for day in session.scalars(select(Record.occurred_on).distinct())}
    found.update(session.scalars(select(RollupCell.month).distinct()))
    found.update(session.scalars(select(RollupPersonFact.month).distinct()))
    found.update(session.scalars(select(RollupPersonFirst.month).distinct()))
    return sorted(found)


def recompute(session: Session, month: str, ref: ReferenceLookup | None = None) -> Rollups:
    """The rollups of one month, recounted from its records by the incremental path's own function."""
    ref = ref or ReferenceLookup(session, preload=True)
    first, after = _month_bounds(month)
    cells: dict[CellKey, int] = defaultdict(int)
    facts: dict[FactKey, Fact] = {}
    # entity IN (...) lets both engines range-scan ix_records_entity_occurred_on.
    stmt = (select(Record).where(Record.entity.in_(ENTITIES), Record.occurred_on >= first,
                                 Record.occurred_on < after).execution_options(yield_per=_BATCH))
    for record in session.execute(stmt).scalars():
        for indicator in for_entity(record.entity):
            for key, value in contributions(indicator, record, ref).all_cells():
                cells[key] += value
        accumulate_facts(facts, [record], ref)
    return Rollups({k: v for k, v in cells.items() if v}, facts, firsts_of(facts))


def stored_indicators(session: Session) -> list[str]:
    """Every indicator code in the rollup tables (place twins and any stray code included)."""
    codes = set(session.scalars(select(RollupCell.indicator).distinct()))
    codes.update(session.scalars(select(RollupPersonFact.indicator).distinct()))
    codes.update(session.scalars(select(RollupPersonFirst.indicator).distinct()))
    return sorted(codes)


def stored(session: Session, month: str, codes: list[str] | None = None) -> Rollups:
    """The rollups of one month as stored."""
    cell_table, fact_table, first_table = RollupCell.__table__, RollupPersonFact.__table__, RollupPersonFirst.__table__
    # indicator IN (...) AND month = ... : the prefix of each table's key index.
    codes = stored_indicators(session) if codes is None else codes
    cell_cols = [cell_table.c.indicator, cell_table.c.month, *(cell_table.c[n] for n in CELL_DIMENSIONS)]
    cells = {tuple(row[:-1]): int(row[-1])
             for row in session.execute(select(*cell_cols, cell_table.c.value)
                                        .where(cell_table.c.indicator.in_(codes), cell_table.c.month == month))
             if row[-1]}  # zero cells are left behind by voids; they mean nothing
    facts = dict(fact_of_row(row) for row in session.execute(
        select_facts().where(fact_table.c.indicator.in_(codes), fact_table.c.month == month)))
    firsts = dict(first_of_row(row) for row in session.execute(
        select_firsts().where(first_table.c.indicator.in_(codes), first_table.c.month == month)))
    return Rollups(cells, facts, firsts)


def verify(session: Session, progress: ProgressCallback | None = None) -> list[Difference]:
    """Every difference between the stored rollups and a recount from the records, month by month."""
    ref = ReferenceLookup(session, preload=True)
    codes = stored_indicators(session)
    differences: list[Difference] = []
    for month in months(session):
        expected, actual = recompute(session, month, ref), stored(session, month, codes)
        for table, want, have in (("rollup_cells", expected.cells, actual.cells),
                                  ("rollup_person_facts", expected.facts, actual.facts),
                                  ("rollup_person_firsts", expected.firsts, actual.firsts)):
            for key in sorted(set(want) | set(have)):
                if want.get(key) != have.get(key):
                    differences.append(Difference(table, key, have.get(key), want.get(key)))
        if progress:
            progress(month)
    differences.extend(_distinct_differences(session, progress))
    return differences


def _distinct_differences(session: Session, progress: ProgressCallback | None) -> list[Difference]:
    """The distinct cells against what the stored facts and place cells make of them. Those are
    checked against the records above, so when all agree the distinct cells are right too."""
    table = RollupDistinctCell.__table__
    differences: list[Difference] = []
    for code in _distinct_codes(session):
        want = expected_distinct_cells(session, code)
        have = {tuple(row[:-1]): int(row[-1])
                for row in session.execute(select(*(table.c[n] for n in DISTINCT_KEY_COLUMNS), table.c.value)
                                           .where(table.c.indicator == code))
                if row[-1]}
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                differences.append(Difference("rollup_distinct_cells", tuple(map(str, key)), have.get(key),
                                              want.get(key)))
        if progress:
            progress(f"distinct {code}")
    return differences


def steps(session: Session) -> int:
    """How many times verify and rebuild report progress: each month, then each distinct indicator."""
    return len(months(session)) + len(_distinct_codes(session))


def _distinct_codes(session: Session) -> list[str]:
    """The distinct indicators, and any stray code in the distinct cells."""
    codes = {indicator.code for indicator in INDICATORS if indicator.is_distinct}
    codes.update(session.scalars(select(RollupDistinctCell.indicator).distinct()))
    return sorted(codes)


@dataclass(frozen=True)
class Rebuilt:
    cells: int
    facts: int
    firsts: int


def rebuild(session: Session, progress: ProgressCallback | None = None) -> Rebuilt:
    """Replace every rollup by a recount, month by month (the caller commits: one transaction)."""
    ref = ReferenceLookup(session, preload=True)
    all_months = months(session)  # before the delete: months with stale rollups only are emptied too
    session.execute(delete(RollupCell.__table__))
    session.execute(delete(RollupPersonFact.__table__))
    session.execute(delete(RollupPersonFirst.__table__))
    session.execute(delete(RollupDistinctCell.__table__))
    cells = facts = firsts = 0
    for month in all_months:
        fresh = recompute(session, month, ref)
        if fresh.cells:
            session.execute(insert(RollupCell.__table__), [cell_row(k, v) for k, v in sorted(fresh.cells.items())])
        if fresh.facts:
            session.execute(insert(RollupPersonFact.__table__),
                            [fact_row(k, f) for k, f in sorted(fresh.facts.items())])
        if fresh.firsts:
            session.execute(insert(RollupPersonFirst.__table__),
                            [first_row(k, f) for k, f in sorted(fresh.firsts.items())])
        cells, facts, firsts = cells + len(fresh.cells), facts + len(fresh.facts), firsts + len(fresh.firsts)
        if progress:
            progress(month)
    # From the facts just written: a person's year spans months, so this follows the month loop.
    for code in _distinct_codes(session):
        cells += write_distinct_cells(session, code)
        if progress:
            progress(f"distinct {code}")
    return Rebuilt(cells, facts, firsts)
