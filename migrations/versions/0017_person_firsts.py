"""person firsts: each person's earliest fact per month and population group, kept beside the facts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:50:00

`rollup_person_firsts` holds, per (indicator, country, beneficiary_ref, month, population_group), the
earliest of the person's facts (by first_occurred_on, then first_record_id) and that fact's team and
site: all that distinct-cell attribution reads of a person's facts. A push's recount of a returning
person's distinct cells reads these rows instead of ranking the person's facts, one per combination
of sex, service, visit... (issue 31). The upgrade fills the table from the facts already there with
the same ranking the push used to run, in one statement on both engines.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEY = ('indicator', 'country', 'beneficiary_ref', 'month', 'population_group')
FIRST = ('first_occurred_on', 'first_record_id', 'team_id', 'site_id')


def upgrade() -> None:
    op.create_table('rollup_person_firsts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('indicator', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('beneficiary_ref', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('population_group', sa.String(length=20), nullable=False),
    sa.Column('team_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('first_occurred_on', sa.Date(), nullable=False),
    sa.Column('first_record_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_person_firsts')),
    sa.UniqueConstraint(*KEY, name='uq_rollup_person_firsts_key')
    )
    # The table as this revision knows it (a migration does not follow later models).
    facts = sa.table('rollup_person_facts', *(sa.column(name) for name in (*KEY, *FIRST)))
    firsts = sa.table('rollup_person_firsts', *(sa.column(name) for name in (*KEY, *FIRST)))
    rank = sa.func.row_number().over(partition_by=[facts.c[name] for name in KEY],
                                     order_by=(facts.c.first_occurred_on, facts.c.first_record_id)).label('rank')
    ranked = sa.select(*(facts.c[name] for name in (*KEY, *FIRST)), rank).subquery()
    earliest = sa.select(*(ranked.c[name] for name in (*KEY, *FIRST))).where(ranked.c.rank == 1)
    op.execute(firsts.insert().from_select([*KEY, *FIRST], earliest))


def downgrade() -> None:
    op.drop_table('rollup_person_firsts')
