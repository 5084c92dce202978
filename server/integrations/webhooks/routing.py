"""Routing: committed changes from the outbox (`webhook_changes`) to each webhook's queue (`webhook_events`).

The delivery worker calls `route` before it claims webhooks. In one transaction it reads the oldest
changes, writes one event per (webhook, change) the webhook asks for (its countries and events, and
made since the webhook was created), and deletes exactly the changes it read: a crash before the
commit leaves them to the next call, so none is lost or routed twice. On PostgreSQL one router runs
at a time (a transaction-scoped advisory lock, taken without waiting: another worker routing now is
doing the work), so changes reach each queue in the order they were read; the queues deliver in
(seq, id) order.

The bound: a webhook holds at most WEBHOOK_MAX_PENDING pending events. A change that would pass it
pauses the webhook (`active: false`): no event is queued for it from then on (each one counted in
`dropped`), what is pending is still delivered, and the coordinator re-creates the webhook once the
receiver is back and reads the gap from the line list (`since`). So a dead receiver costs at most
that many rows, and the push never waits on a receiver. The outbox itself holds a change only until
the next routing (a poll of the worker); while no worker runs, it grows by one row per wanted change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from server.models import Webhook, WebhookChange, WebhookEvent
from server.models.webhooks import PENDING
from server.persistence.timeutil import utcnow
from server.web.transactions import reading_only

_CHANGES = WebhookChange.__table__
_EVENTS = WebhookEvent.__table__
_HOOKS = Webhook.__table__
ROUTE_BATCH = 200  # changes routed per transaction: on SQLite it holds the write lock the pushes need
# pg_try_advisory_xact_lock's key: one router at a time (any constant no other lock uses).
_ROUTER_LOCK = 0x7765_6268_6F6F_6B73  # "webhooks"
_READ = (select(_CHANGES.c.id, _CHANGES.c.seq, _CHANGES.c.country, _CHANGES.c.type, _CHANGES.c.record_id,
                _CHANGES.c.version, _CHANGES.c.payload, _CHANGES.c.created_at)
         .order_by(_CHANGES.c.id))
_HOOKS_READ = select(_HOOKS.c.id, _HOOKS.c.countries, _HOOKS.c.events, _HOOKS.c.active, _HOOKS.c.created_at)


def route(session: Session, max_pending: int, *, limit: int = ROUTE_BATCH) -> int:
    """Route up to `limit` of the oldest committed changes and commit; returns how many."""
    # Most polls find nothing: asked first in a read that takes no lock (on SQLite every write
    # transaction holds the one lock the pushes need).
    with reading_only(session):
        waiting = session.execute(select(_CHANGES.c.id).limit(1)).first()
    if waiting is None:
        return 0
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            select(func.pg_try_advisory_xact_lock(_ROUTER_LOCK))):
        session.rollback()
        return 0
    changes = session.execute(_READ.limit(limit)).all()
    if changes:
        _queue(session, changes, max_pending)
        # Exactly the changes read: on PostgreSQL an id below the last one read may commit later.
        session.execute(delete(_CHANGES).where(_CHANGES.c.id.in_([change.id for change in changes])))
    session.commit()
    return len(changes)


def _queue(session: Session, changes: Sequence[Any], max_pending: int) -> None:
    hooks = session.execute(_HOOKS_READ).all()
    wanted = [(hook, [change for change in changes if change.country in hook.countries
                      and change.type in hook.events and change.created_at >= hook.created_at])
              for hook in hooks]
    wanted = [(hook, matching) for hook, matching in wanted if matching]
    for hook, matching in wanted:
        if not hook.active:
            session.execute(update(_HOOKS).where(_HOOKS.c.id == hook.id)
                            .values(dropped=_HOOKS.c.dropped + len(matching)))
    wanted = [(hook, matching) for hook, matching in wanted if hook.active]
    if not wanted:
        return
    pending = _pending_counts(session, [hook.id for hook, _ in wanted])
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for hook, matching in wanted:
        room = max(0, max_pending - pending.get(hook.id, 0))
        for change in matching[:room]:
            rows.append({"webhook_id": hook.id, "event_id": "msg_" + uuid.uuid4().hex, "type": change.type,
                         "record_id": change.record_id, "version": change.version, "seq": change.seq,
                         "payload": change.payload, "status": PENDING, "attempts": 0,
                         "created_at": change.created_at, "next_attempt_at": now})
        if len(matching) > room:
            session.execute(update(_HOOKS).where(_HOOKS.c.id == hook.id)
                            .values(active=False, dropped=_HOOKS.c.dropped + (len(matching) - room)))
    if rows:
        session.execute(insert(_EVENTS), rows)


def _pending_counts(session: Session, hook_ids: Sequence[int]) -> dict[int, int]:
    return dict(session.execute(select(_EVENTS.c.webhook_id, func.count())
                                .where(_EVENTS.c.webhook_id.in_(hook_ids), _EVENTS.c.status == PENDING)
                                .group_by(_EVENTS.c.webhook_id)).all())
