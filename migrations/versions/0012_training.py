"""trainings: their dimensions in the rollups, and records without a population group

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:10:00

A training (domain.md) is counted by `topic` and `participant_type`, so rollup cells and person
facts get those two key columns ('' where they do not apply, like the others) and the unique keys
the upserts rely on include them. A training has no population group, so `records.population_group`
may be NULL. Existing rows get '' in the new columns: no existing cell changes meaning, so there is
nothing to rebuild.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_OLD_KEY = ('team_id', 'site_id', 'population_group', 'sex', 'age_band', 'service', 'visit', 'item', 'activity')
_NEW_KEY = (*_OLD_KEY, 'topic', 'participant_type')
_TABLES = {
    'rollup_cells': ('uq_rollup_cells_key', ('indicator', 'month')),
    'rollup_person_facts': ('uq_rollup_person_facts_key', ('indicator', 'country', 'beneficiary_ref', 'month')),
}


def upgrade() -> None:
    for table, (key, prefix) in _TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('topic', sa.String(length=20), nullable=False, server_default=''))
            batch_op.add_column(sa.Column('participant_type', sa.String(length=20), nullable=False,
                                          server_default=''))
            batch_op.drop_constraint(key, type_='unique')
            batch_op.create_unique_constraint(key, [*prefix, *_NEW_KEY])
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.alter_column('population_group', existing_type=sa.String(length=20), nullable=True)


def downgrade() -> None:
    # Trainings cannot be kept without their columns: their records and rollups go with them.
    op.execute("DELETE FROM record_revisions WHERE record_id IN (SELECT id FROM records WHERE entity = 'training')")
    op.execute("DELETE FROM records WHERE entity = 'training'")
    op.execute("DELETE FROM rollup_cells WHERE indicator IN ('people_trained', 'people_trained:place')")
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.alter_column('population_group', existing_type=sa.String(length=20), nullable=False)
    for table, (key, prefix) in _TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(key, type_='unique')
            batch_op.create_unique_constraint(key, [*prefix, *_OLD_KEY])
            batch_op.drop_column('participant_type')
            batch_op.drop_column('topic')
