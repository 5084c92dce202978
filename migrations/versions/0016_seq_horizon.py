"""seq horizon: on PostgreSQL, seqs from each transaction's id instead of a counter row every writer locks

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07 01:10:00

server/persistence/seq.py: on PostgreSQL a transaction's seqs are `base + (xid << 16) + n`, and `seq_counter.global`
holds `base` instead of the last seq handed out. The upgrade sets `base` so that the seqs of every
transaction after this one are above every seq the counter handed out (all <= its value). SQLite
keeps its counter: nothing to do there.

The records' beneficiary index gains `occurred_on`, so the rollups' recount of a person-month
after a correction or void reads that month's records only, not the person's whole history.
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TXN_BITS = 16  # server.persistence.seq.TXN_BITS when this was written (a migration does not follow later code)


def upgrade() -> None:
    with op.batch_alter_table('records') as batch_op:
        batch_op.create_index('ix_records_beneficiary_occurred_on', ['beneficiary_ref', 'entity', 'occurred_on'])
        batch_op.drop_index('ix_records_beneficiary')
    if op.get_bind().dialect.name != "postgresql":
        return
    # Later transactions have ids above this one's, so their first seq is above value + 1.
    op.execute(f"UPDATE seq_counter SET value = value + 1 - (pg_current_xact_id()::text::bigint << {TXN_BITS}) "
               "WHERE name = 'global'")


def downgrade() -> None:
    with op.batch_alter_table('records') as batch_op:
        batch_op.create_index('ix_records_beneficiary', ['beneficiary_ref', 'entity'])
        batch_op.drop_index('ix_records_beneficiary_occurred_on')
    if op.get_bind().dialect.name != "postgresql":
        return
    # Back to a counter: at or above every seq handed out (the next transaction id's range starts above them).
    op.execute(f"UPDATE seq_counter SET value = value + (pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
               f"<< {TXN_BITS}) WHERE name = 'global'")
