"""The outbox writer: the second subscriber of the change events (server/persistence/events.py).

For each applied record change whose country and kind an active webhook asks for, one
`webhook_events` row is written in the transaction that writes the record: it commits with the
record or not at all (a crash or kill -9 loses none; a rolled-back batch, or a duplicate resend,
which changes nothing and publishes nothing, sends none). The body is made now, from the record as
this change left it, with the line list's row builder (`server.operations.linelist.line_row`), so a receiver
gets each version exactly as committed, never more than a coordinator's line list shows.

The bound: a webhook holds at most WEBHOOK_MAX_PENDING pending events. A change that would pass it
pauses the webhook (`active: false`): no event is written for it from then on (each one counted in
`dropped`), what is pending is still delivered, and the coordinator re-creates the webhook once the
receiver is back and reads the gap from the line list (`since`). So a dead receiver costs at most
that many rows, and the push never waits on a receiver.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Row, func, insert, select, update

from server.models import Site, Team, Webhook, WebhookEvent
from server.models.webhooks import PENDING
from server.operations.linelist import line_row
from server.persistence.events import ChangeBatch, RecordChange, subscribe
from server.persistence.timeutil import isoformat_z, utcnow

_EVENTS = WebhookEvent.__table__
_HOOKS = Webhook.__table__
# Paused webhooks too: their missed events are counted.
_HOOKS_READ = select(_HOOKS.c.id, _HOOKS.c.countries, _HOOKS.c.events, _HOOKS.c.active)


def init_app(app: Flask) -> None:
    subscribe(on_record_changes)


def on_record_changes(batch: ChangeBatch) -> None:
    session = batch.session
    hooks = session.execute(_HOOKS_READ).all()
    if not hooks:  # the common case costs one read of a small table
        return
    changes = batch.changes
    teams = dict(session.execute(select(Team.id, Team.country_code)
                                 .where(Team.id.in_({change.after.team_id for change in changes}))).all())
    wanted = [(hook, [change for change in changes
                      if teams.get(change.after.team_id) in hook.countries and change.kind.value in hook.events])
              for hook in hooks]
    wanted = [(hook, matching) for hook, matching in wanted if matching]
    for hook, matching in wanted:
        if not hook.active:
            session.execute(update(_HOOKS).where(_HOOKS.c.id == hook.id)
                            .values(dropped=_HOOKS.c.dropped + len(matching)))
    wanted = [(hook, matching) for hook, matching in wanted if hook.active]
    if not wanted:
        return
    sites = {row.id: row for row in session.execute(
        select(Site.id, Site.area_id, Site.site_type).where(Site.id.in_({change.after.site_id for change in changes})))}
    now = utcnow()
    bodies = {id(change): _body(change, teams, sites, now) for _, matching in wanted for change in matching}
    pending = _pending_counts(session, [hook.id for hook, _ in wanted])
    limit = int(current_app.config["WEBHOOK_MAX_PENDING"])
    rows: list[dict[str, Any]] = []
    for hook, matching in wanted:
        room = max(0, limit - pending.get(hook.id, 0))
        for change in matching[:room]:
            rows.append({"webhook_id": hook.id, "event_id": "msg_" + uuid.uuid4().hex, "type": change.kind.value,
                         "record_id": change.after.id, "version": change.after.version, "seq": change.after.seq,
                         "payload": bodies[id(change)], "status": PENDING, "attempts": 0, "created_at": now,
                         "next_attempt_at": now})
        if len(matching) > room:
            session.execute(update(_HOOKS).where(_HOOKS.c.id == hook.id)
                            .values(active=False, dropped=_HOOKS.c.dropped + (len(matching) - room)))
    if rows:
        session.execute(insert(_EVENTS), rows)


def _pending_counts(session: Any, hook_ids: Sequence[int]) -> dict[int, int]:
    return dict(session.execute(select(_EVENTS.c.webhook_id, func.count())
                                .where(_EVENTS.c.webhook_id.in_(hook_ids), _EVENTS.c.status == PENDING)
                                .group_by(_EVENTS.c.webhook_id)).all())


def _body(change: RecordChange, teams: dict[str, str], sites: dict[str, Row[Any]], now: Any) -> str:
    state = change.after
    site = sites.get(state.site_id)
    data = line_row(state.seq, state.id, state.entity, state.version, state.status, teams[state.team_id],
                    site.area_id if site else None, state.site_id, site.site_type if site else None, state.team_id,
                    state.occurred_on, state.recorded_at, state.data.get("population_group"),
                    state.data.get("beneficiary_ref"), state.data, state.clock_suspect, state.received_at)
    return json.dumps({"type": change.kind.value, "timestamp": isoformat_z(now), "data": data},
                      separators=(",", ":"), ensure_ascii=False)
