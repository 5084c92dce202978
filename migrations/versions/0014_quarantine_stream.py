"""quarantine stream: a seq on quarantined mutations, for the device's `quarantine` pull stream

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 01:20:00

`GET /api/v1/sync/pull?stream=quarantine` pages a device's quarantined mutations by seq, with the
cursor rules of the other streams (api.md v1.2). New rows and every later change take a seq from
the server counter (server/models/sync.py); the rows already kept get one each here, in id order,
so a tablet's first pull of the stream lists them too.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_quarantine_device_id_seq', ['device_id', 'seq'], unique=False)
    # Ids are unique and increasing: counter + id is a block of fresh seqs in id order; the counter
    # then moves past the block, as a writer's reservation would.
    op.execute("UPDATE quarantine SET seq = (SELECT value FROM seq_counter WHERE name = 'global') + id")
    op.execute("UPDATE seq_counter SET value = value + (SELECT COALESCE(MAX(id), 0) FROM quarantine) "
               "WHERE name = 'global'")


def downgrade() -> None:
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_device_id_seq')
        batch_op.drop_column('seq')
