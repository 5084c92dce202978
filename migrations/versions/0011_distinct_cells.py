"""distinct cells: people counted per bucket, so distinct indicators read cells, not people

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:40:00

`rollup_distinct_cells` holds, for people_consulted and hygiene_kit_recipients, each person's
earliest record per year, quarter and month, in a form any population-group filter can be read
from (server/aggregation/distinct.py), and the records without a beneficiary_ref (a person
each). It is a function of `rollup_person_facts` and the place cells, so the upgrade fills it from
those already there, one person at a time, with the same code the push and `rollups rebuild` use.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from server.aggregation.indicators import INDICATORS
from server.aggregation.rollups import write_distinct_cells

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('rollup_distinct_cells',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('indicator', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('start_month', sa.String(length=7), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('team_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('population_group', sa.String(length=20), nullable=False),
    sa.Column('earlier_groups', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_distinct_cells')),
    sa.UniqueConstraint('indicator', 'period', 'earlier_groups', 'start_month', 'team_id', 'site_id',
                        'population_group', name='uq_rollup_distinct_cells_key')
    )
    for indicator in INDICATORS:
        if indicator.is_distinct:
            write_distinct_cells(op.get_bind(), indicator.code)


def downgrade() -> None:
    op.drop_table('rollup_distinct_cells')
