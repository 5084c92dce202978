"""Staged writes: the rows a write's tail inserts, sent as one statement on PostgreSQL.

A write through the envelope (server/intake/envelope.py) ends with one INSERT per table: rollup
cells, distinct cells and person facts (upserts), revisions, op memory, the intake's ledger row.
None of them is read back before the transaction commits, so there is no reason to send them one
round trip each: on a one-record OpenRosa submission each cost more in the driver and SQLAlchemy
than in the database (issue 31). The writers stage their rows here instead (each table declared
once, with its conflict rule, by the module that owns it) and `flush` writes them all:

- **PostgreSQL**: one statement of data-modifying CTEs, each `INSERT ... SELECT` from
  `json_populate_recordset` over one JSON parameter. The CTEs run in a fixed order (the targets'
  `order`: new records first, as when they were a statement of their own), and each table's rows
  in the order staged (the writers sort them), so two writers meet shared rows in the same order,
  as one executemany per table did. Foreign keys (revisions name records) are checked at the end
  of the statement, when the records are in.
- **SQLite**: one executemany per table, as before (SQLite has no data-modifying CTEs, and its
  statements cost no round trip).

What is staged is not visible to a read until `flush`: a writer that reads what it wrote (a
coordinator's resolution stamps its revision) flushes first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session


@dataclass(frozen=True, eq=False)
class StagedTable:
    """A table rows are staged for, and how they are written.

    `statement` is the executemany statement of a dialect (a plain INSERT unless given: an upsert's
    builder); `pg_conflict` the same rule as text after PostgreSQL's `INSERT ... SELECT` (empty for
    a plain INSERT). `order` places the table among the others in the one statement."""

    table: Table
    order: int
    pg_conflict: str = ""
    statement: Callable[[Session], Any] | None = field(default=None)

    def executemany_statement(self, session: Session) -> Any:
        return self.statement(session) if self.statement is not None else insert(self.table)


def _json_value(value: Any) -> str:
    # Dates and naive UTC datetimes as ISO text, which PostgreSQL's date and timestamp input read.
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# The statement text per shape (targets and their columns), built once: a submission has one shape.
_STATEMENTS: dict[tuple[tuple[int, tuple[str, ...]], ...], Any] = {}


def _pg_statement(shape: Sequence[tuple[StagedTable, tuple[str, ...]]]) -> Any:
    key = tuple((id(target), columns) for target, columns in shape)
    statement = _STATEMENTS.get(key)
    if statement is None:
        parts = []
        # PostgreSQL runs data-modifying CTEs that the query does not read after it, last declared
        # first (ExecPostprocessPlan; checked on PostgreSQL 16): declared in reverse, they run in
        # `order`. Nothing depends on it for correctness; it keeps the order of the locks taken.
        for number, (target, columns) in reversed(list(enumerate(shape))):
            names = ", ".join(f'"{column}"' for column in columns)
            name = target.table.name
            # Only the staged columns: a column left out keeps its server default, not NULL.
            parts.append(f"w{number} AS (INSERT INTO {name} ({names}) SELECT {names} FROM "
                         f"json_populate_recordset(NULL::{name}, CAST(:w{number} AS json)) {target.pg_conflict})")
        statement = text("WITH " + ", ".join(parts) + " SELECT 1")
        _STATEMENTS[key] = statement
    return statement


class StagedWrites:
    """The rows of one write's tail, written by `flush` (in the caller's transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[StagedTable, list[dict[str, Any]]] = {}

    def add(self, target: StagedTable, rows: Sequence[dict[str, Any]]) -> None:
        """Stage rows for `target`; every row of a table has the same keys (its writer builds them)."""
        if rows:
            self._rows.setdefault(target, []).extend(rows)

    def flush(self) -> None:
        if not self._rows:
            return
        staged = sorted(self._rows.items(), key=lambda item: item[0].order)
        self._rows = {}
        if len(staged) == 1 or self.session.get_bind().dialect.name != "postgresql":
            for target, rows in staged:
                self.session.execute(target.executemany_statement(self.session), rows)
            return
        shape = [(target, tuple(rows[0])) for target, rows in staged]
        params = {f"w{number}": json.dumps(rows, default=_json_value, separators=(",", ":"), ensure_ascii=False)
                  for number, (_, rows) in enumerate(staged)}
        self.session.execute(_pg_statement(shape), params)
