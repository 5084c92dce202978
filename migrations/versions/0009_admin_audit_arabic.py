"""i15 admin: Arabic names for reference data and public statements, team deactivation, audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 04:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_NAME_LENGTHS = {'countries': 100, 'areas': 100, 'sites': 150, 'teams': 150, 'items': 150, 'services': 150}


def upgrade() -> None:
    for table, length in _NAME_LENGTHS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('name_ar', sa.String(length=length), nullable=True))
    with op.batch_alter_table('teams', schema=None) as batch_op:
        # Existing teams are active; the server default fills them.
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('impact_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_ar', sa.String(length=300), nullable=True))

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target_type', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
    op.create_table('audit_countries',
    sa.Column('audit_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.ForeignKeyConstraint(['audit_id'], ['audit_log.id'], name=op.f('fk_audit_countries_audit_id_audit_log'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('audit_id', 'country_code', name=op.f('pk_audit_countries'))
    )
    with op.batch_alter_table('audit_countries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_countries_country_code'), ['country_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_countries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_countries_country_code'))
    op.drop_table('audit_countries')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
    op.drop_table('audit_log')
    with op.batch_alter_table('impact_statements', schema=None) as batch_op:
        batch_op.drop_column('text_ar')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('active')
    for table in reversed(list(_NAME_LENGTHS)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('name_ar')
