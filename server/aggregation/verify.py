"""Recompute every rollup from the raw records; compare with what is stored, or rebuild.

Recomputation streams the records once through `rollups.contributions`, the function the
incremental path uses, so verify checks that increments never drifted from a full recount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from server.aggregation.indicators import for_entity
from server.aggregation.rollups import (
    CellKey,
    Fact,
    FactKey,
    ReferenceLookup,
    accumulate_facts,
    cell_row,
    contributions,
    fact_row,
)
from server.models import Record, RollupCell, RollupPersonFact
from server.models.rollups import CELL_DIMENSIONS


@dataclass(frozen=True)
class Rollups:
    cells: dict[CellKey, int]
    facts: dict[FactKey, Fact]


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[str, ...]
    stored: object
    expected: object

    def __str__(self) -> str:
        return f"{self.table} {'/'.join(self.key)}: stored {self.stored}, expected {self.expected}"


def _records(session: Session, batch: int = 5000) -> Iterator[Record]:
    yield from session.execute(select(Record).execution_options(yield_per=batch)).scalars()


def recompute(session: Session) -> Rollups:
    ref = ReferenceLookup(session, preload=True)
    cells: dict[CellKey, int] = defaultdict(int)
    facts: dict[FactKey, Fact] = {}
    for record in _records(session):
        for indicator in for_entity(record.entity):
            for key, value in contributions(indicator, record, ref).all_cells():
                cells[key] += value
        accumulate_facts(facts, [record], ref)
    return Rollups({k: v for k, v in cells.items() if v}, facts)


def stored(session: Session) -> Rollups:
    cell_table, fact_table = RollupCell.__table__, RollupPersonFact.__table__
    cell_cols = [cell_table.c.indicator, cell_table.c.month, *(cell_table.c[n] for n in CELL_DIMENSIONS)]
    cells = {tuple(row[:-1]): int(row[-1])
             for row in session.execute(select(*cell_cols, cell_table.c.value))
             if row[-1]}  # zero cells are left behind by voids; they mean nothing
    fact_cols = [fact_table.c.indicator, fact_table.c.country, fact_table.c.beneficiary_ref, fact_table.c.month,
                 *(fact_table.c[n] for n in CELL_DIMENSIONS)]
    facts = {tuple(row[:-3]): Fact(row[-3], row[-2], row[-1])
             for row in session.execute(select(*fact_cols, fact_table.c.first_occurred_on,
                                               fact_table.c.first_record_id, fact_table.c.n_records))}
    return Rollups(cells, facts)  # type: ignore[arg-type]


def verify(session: Session) -> list[Difference]:
    """Every difference between the stored rollups and a recount from the records."""
    expected, actual = recompute(session), stored(session)
    differences: list[Difference] = []
    for table, want, have in (("rollup_cells", expected.cells, actual.cells),
                              ("rollup_person_facts", expected.facts, actual.facts)):
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                differences.append(Difference(table, key, have.get(key), want.get(key)))
    return differences


def rebuild(session: Session) -> Rollups:
    """Replace every rollup by a recount (the caller commits: one transaction)."""
    fresh = recompute(session)
    session.execute(delete(RollupCell.__table__))
    session.execute(delete(RollupPersonFact.__table__))
    if fresh.cells:
        session.execute(insert(RollupCell.__table__), [cell_row(k, v) for k, v in sorted(fresh.cells.items())])
    if fresh.facts:
        session.execute(insert(RollupPersonFact.__table__),
                        [fact_row(k, f) for k, f in sorted(fresh.facts.items())])
    return fresh
