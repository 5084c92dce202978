"""reference stamp: triggers give reference data a new random stamp on every change

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:10:00

Every push checks its records' sites, services and items against reference data that changes a few
times a month, so each app process caches it (server/persistence/reference_cache.py), keyed by the stamp kept
in `seq_counter` under the name `reference`. These triggers set a new random stamp whenever a row of
`sites`, `team_sites`, `services` or `items` changes, whoever changes it (the API, the CLI, a
migration, psql), in the same transaction as the change.

Random, not a counter: a rolled-back change (or a restored backup) would hand a counter's next value
to different data, and a process would trust its cache. A random stamp is never seen twice.

SQLite drops a table's triggers when `batch_alter_table` rebuilds it. A later migration that
rebuilds one of these tables must create its triggers again (`create_stamp_triggers`);
tests/server/persistence/test_reference_cache.py fails if any table stops changing the stamp.
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STAMPED_TABLES = ('sites', 'team_sites', 'services', 'items')
_EVENTS = ('INSERT', 'UPDATE', 'DELETE')
# A random stamp below 2**53, so it survives any JSON or float round trip.
_SQLITE_RANDOM = "abs(random() % 9007199254740991)"
_PG_RANDOM = "floor(random() * 9007199254740991)::bigint"


def _new_stamp(random_stamp: str) -> str:
    return f"UPDATE seq_counter SET value = {random_stamp} WHERE name = 'reference'"


def create_stamp_triggers(table: str) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"CREATE TRIGGER reference_stamp_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION new_reference_stamp()")
        return
    for event in _EVENTS:
        op.execute(f"CREATE TRIGGER reference_stamp_{table}_{event.lower()} AFTER {event} ON {table} "
                   f"BEGIN {_new_stamp(_SQLITE_RANDOM)}; END")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    random_stamp = _PG_RANDOM if postgresql else _SQLITE_RANDOM
    op.execute(f"INSERT INTO seq_counter (name, value) VALUES ('reference', {random_stamp})")
    if postgresql:
        op.execute(f"CREATE FUNCTION new_reference_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN {_new_stamp(_PG_RANDOM)}; RETURN NULL; END $$")
    for table in STAMPED_TABLES:
        create_stamp_triggers(table)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table in STAMPED_TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER reference_stamp_{table} ON {table}")
        else:
            for event in _EVENTS:
                op.execute(f"DROP TRIGGER reference_stamp_{table}_{event.lower()}")
    if postgresql:
        op.execute("DROP FUNCTION new_reference_stamp()")
    op.execute("DELETE FROM seq_counter WHERE name = 'reference'")
