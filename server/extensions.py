"""Extension singletons. Bound to an app by `server.app.create_app`."""

from __future__ import annotations

from contextvars import ContextVar

from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

from schemas.errors import ErrorSchema

# A naming convention makes constraint names deterministic, so Alembic can drop or alter
# them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
api = Api()
# Every error response in the OpenAPI document is the envelope the server sends (schemas/errors.py).
api.ERROR_SCHEMA = ErrorSchema


# Set (by `server.web.transactions.reading_only` and `reads_only`) while a read that writes nothing opens
# its transaction: on SQLite that transaction is then a plain (deferred) BEGIN, which takes no write lock.
read_only_transaction: ContextVar[bool] = ContextVar("read_only_transaction", default=False)

# Acknowledged means durable (issue 29 item 8): in WAL mode, FULL syncs the WAL at every commit, so a
# record the tablet was answered 200/201 for (and then forgot) survives a power cut; NORMAL syncs only
# at checkpoints, and a cut could lose the last commits. PostgreSQL flushes every commit as configured
# (fsync, synchronous_commit on). The cost is measured by `make bench` (bench/durability.py).
SQLITE_SYNCHRONOUS = "FULL"


def install_sqlite_hooks(engine: Engine) -> None:
    """Make pysqlite transactional the way SQLAlchemy documents it.

    pysqlite's own transaction handling does not emit BEGIN until the first write, which breaks
    SAVEPOINTs and lets two deferred transactions deadlock when both upgrade to a write lock.
    We take over: autocommit at the driver level and an explicit `BEGIN IMMEDIATE`, so writers
    queue on the lock (busy timeout) instead of failing with "database is locked".

    Except a transaction opened under `read_only_transaction`, which only reads and ends before
    anything is written (server/web/transactions.py `reading_only`, `reads_only`): a deferred BEGIN,
    so in WAL mode it reads a snapshot beside the one writer instead of queueing for the write
    lock behind it.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN" if read_only_transaction.get() else "BEGIN IMMEDIATE")
