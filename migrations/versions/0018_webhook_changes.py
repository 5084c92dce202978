"""webhook changes: one outbox row per change, routed to each webhook's queue by the delivery worker

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 04:00:00

Until now a push wrote one `webhook_events` row per (webhook, change), each with its own copy of the
body, in the push's transaction: ten webhooks made a push write ten bodies per record. Now the push
writes one `webhook_changes` row per change (server/integrations/webhooks/outbox.py) and the delivery
worker routes it to the webhooks' queues (server/integrations/webhooks/routing.py).

A push learns which countries and events have a webhook from the reference snapshot it already
reads (server/persistence/reference_cache.py), so `webhooks` joins the tables whose changes renew
the reference stamp; only the columns that decide routing do (`countries`, `events`), not the
worker's lease or the `dropped` counter, which change all the time.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# migration 0010's stamp, written out: a migration does not follow later code.
_SQLITE_NEW_STAMP = "UPDATE seq_counter SET value = abs(random() % 9007199254740991) WHERE name = 'reference'"
_SQLITE_EVENTS = {"insert": "INSERT", "delete": "DELETE", "update": "UPDATE OF countries, events"}


def upgrade() -> None:
    op.create_table('webhook_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('country', sa.String(length=8), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_changes'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        # new_reference_stamp() is migration 0010's function.
        op.execute("CREATE TRIGGER reference_stamp_webhooks AFTER INSERT OR DELETE OR UPDATE OF countries, events "
                   "OR TRUNCATE ON webhooks FOR EACH STATEMENT EXECUTE FUNCTION new_reference_stamp()")
        return
    for name, event in _SQLITE_EVENTS.items():
        op.execute(f"CREATE TRIGGER reference_stamp_webhooks_{name} AFTER {event} ON webhooks "
                   f"BEGIN {_SQLITE_NEW_STAMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER reference_stamp_webhooks ON webhooks")
    else:
        for name in _SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER reference_stamp_webhooks_{name}")
    op.drop_table('webhook_changes')
