"""Every `seq`: how changes are numbered, and the horizon below which a reader may hand out cursors.

The guarantee every reader of seqs relies on (the records and reference pulls, line lists'
`since`, the public page's freshness): **a cursor never skips a change that commits later**. A
reader that has seen seq N must be able to tell that no change with a seq at or below N is still
to commit.

SQLite: one writer at a time (BEGIN IMMEDIATE), so the counter row `seq_counter.global`, bumped by
`UPDATE ... RETURNING`, hands out seqs in commit order; every seq a snapshot can see is below
every seq still to commit. The horizon is the counter itself.

PostgreSQL: **no row every writer locks** (issue 31: four tablets of four teams queued on that row).
A transaction's seqs are derived from its own transaction id, which it gets without any lock:

    seq = base + (xid << TXN_BITS) + n      (n = 0, 1, ... within the transaction)

`base` is `seq_counter.global`, read (never written) by writers; migration 0016 set it so that every
new seq is above every seq handed out by the counter before. Transaction ids are 64-bit
(`pg_current_xact_id()`, epoch included: they never wrap) and handed out in increasing order, and
`pg_current_xact_id()` assigns the transaction its id if it has none yet, *before* it returns a seq.
So the seqs of one transaction lie in [base + (xid << TXN_BITS), base + ((xid + 1) << TXN_BITS)).

The **horizon** of a snapshot S is `base + (pg_snapshot_xmin(S) << TXN_BITS)`: xmin is the lowest
transaction id still running when S was taken. Every transaction with a lower id had finished (its
rows are in S if it committed, and it will never write again); every transaction that commits after
S was running at S or gets its id later, so its id is >= xmin and all its seqs are >= the horizon.
A reader that only serves seqs below the horizon of the snapshot it reads in (one statement: the
rows and the horizon from the same snapshot) therefore hands out cursors below every seq that can
still commit. docs/reliability.md spells the argument out; tests/server/operations/test_pull_concurrency.py
and tests/e2e/test_pull_horizon.py test it with real transactions.

What this costs a reader: a change is served once every transaction with a lower id has finished,
so a write transaction left open (`idle in transaction`) holds pulls back until it ends
(`idle_in_transaction_session_timeout` bounds that). A transaction may take at most
2**TXN_BITS seqs (a push takes at most its batch size).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, literal_column, or_, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

COUNTER_NAME = "global"
# Seqs one PostgreSQL transaction may take. 2**16: a push takes at most its batch (500), a bulk load
# its chunk (5,000); wider would bring seqs sooner past 2**53, the largest integer a JavaScript
# client reads exactly (2**37 write transactions after migration 0016, 43 years at 100 a second).
TXN_BITS = 16
TXN_SEQS = 1 << TXN_BITS

# Built once: every push takes a block.
_RESERVE = text("UPDATE seq_counter SET value = value + :n WHERE name = :name RETURNING value")
_COUNTER = text("SELECT value FROM seq_counter WHERE name = :name")
# The first seq of this transaction's range; assigns the transaction its id if it has none yet.
_PG_FIRST = text(f"SELECT value + (pg_current_xact_id()::text::bigint << {TXN_BITS}) "
                 "FROM seq_counter WHERE name = :name")
_PG_BASE = f"(SELECT value FROM seq_counter WHERE name = '{COUNTER_NAME}')"
# The same first seq, for a writer's own read (the store's op memory preload): the seqs it then
# takes cost no statement of their own (`reserve_seqs(..., first=)`).
PG_FIRST_SQL = f"({_PG_BASE} + (pg_current_xact_id()::text::bigint << {TXN_BITS}))"
_PG_HORIZON_SQL = f"({_PG_BASE} + (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {TXN_BITS}))"
# The first seq of the reader's own transaction's range, NULL when it has written nothing (a pull,
# a line list: their views only read). Its own writes are visible to it and settled for it.
_PG_OWN_SQL = f"({_PG_BASE} + (pg_current_xact_id_if_assigned()::text::bigint << {TXN_BITS}))"
_PG_CURRENT = text(f"SELECT {_PG_HORIZON_SQL} - 1, {_PG_OWN_SQL}, pg_current_snapshot()::text")

# session.info key: (first seq of the transaction's range, seqs taken from it so far).
_TAKEN = "fieldsync.seqs_taken"


def _postgresql(session: Session | Connection) -> bool:
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    return dialect.name == "postgresql"


def reserve_seqs(session: Session, count: int = 1, *, first: int | None = None) -> range:
    """Reserve `count` consecutive seqs, returned as a range, above every seq committed so far.
    `first`: PostgreSQL only, this transaction's first seq as `PG_FIRST_SQL` read it in this
    transaction (then no statement is sent); ignored on SQLite."""
    # On the connection, which the transaction lives on (a scoped session may be replaced mid-way).
    return reserve_seqs_on(session.connection(), count, first=first)


def reserve_seqs_on(connection: Connection, count: int = 1, *, first: int | None = None) -> range:
    """`reserve_seqs` for code that holds a connection, not a session: a column default's context
    (quarantine rows take a seq per row, server/models/sync.py). The same range, the same count of
    seqs taken, so the store's seqs and a default's never collide within a transaction."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if connection.dialect.name != "postgresql":
        last = connection.execute(_RESERVE, {"n": count, "name": COUNTER_NAME}).scalar_one()
        return range(last - count + 1, last + 1)
    if first is None:
        first = int(connection.execute(_PG_FIRST, {"name": COUNTER_NAME}).scalar_one())
    taken = _taken_on(connection, first)
    if taken + count > TXN_SEQS:
        raise ValueError(f"a transaction may take at most {TXN_SEQS} seqs: commit in smaller chunks")
    connection.info[_TAKEN] = (first, taken + count)
    return range(first + taken, first + taken + count)


def _taken(session: Session, first: int) -> int:
    return _taken_on(session.connection(), first)


def _taken_on(connection: Connection, first: int) -> int:
    """How many seqs the transaction whose range starts at `first` has taken. A new transaction has
    a new id, so an earlier transaction's entry (a pooled connection's) never matches."""
    previous_first, taken = connection.info.get(_TAKEN, (None, 0))
    return taken if previous_first == first else 0


def next_seq(session: Session) -> int:
    return reserve_seqs(session, 1)[0]


def next_seq_on(connection: Connection) -> int:
    return reserve_seqs_on(connection, 1)[0]


def current_seq(session: Session) -> int:
    """The settled seq: every change with a seq at or below it has committed or never will, and no
    cursor handed out is above it (a cursor above it comes from another database, a restored backup).
    The counter on SQLite; on PostgreSQL one below the horizon of this statement's snapshot (line
    lists read up to it in later transactions, so it must not move under them), or the last seq the
    reader's own transaction took (tests write and read in one transaction)."""
    if not _postgresql(session):
        return int(session.execute(_COUNTER, {"name": COUNTER_NAME}).scalar_one())
    return _pg_current(session)[0]


def _pg_current(session: Session) -> tuple[int, str]:
    """The settled seq and the snapshot (as text) of one statement."""
    below_horizon, own_first, snapshot = session.execute(_PG_CURRENT).one()
    taken = _taken(session, own_first) if own_first is not None else 0
    return (max(int(below_horizon), own_first + taken - 1) if taken else int(below_horizon)), snapshot


def settled(session: Session | Connection, seq: ColumnElement[int]) -> ColumnElement[bool] | None:
    """For a reader's own statement: the condition on its `seq` column that keeps only settled
    changes, in the statement's snapshot: below the horizon, or the reader's own (PostgreSQL). None
    on SQLite, where every seq a snapshot sees is below every seq still to commit.

    The reader's own writes are served too, as a transaction sees them: only a reader that has
    written may see them, and the views that hand out cursors (pull, line list) write nothing
    before reading. Tests, which write and read in one transaction, rely on it."""
    if not _postgresql(session):
        return None
    own = literal_column(_PG_OWN_SQL)
    return or_(seq < literal_column(_PG_HORIZON_SQL), and_(seq >= own, seq < own + TXN_SEQS))


def change_stamp(session: Session) -> Any:
    """A value that differs after any commit that took a seq (the public page's cache key). On
    PostgreSQL the snapshot itself: a seq no longer says "nothing committed since", since a
    transaction with a lower id may commit after one with a higher."""
    if not _postgresql(session):
        return current_seq(session)
    return _pg_current(session)  # the settled seq for the reader's own writes
