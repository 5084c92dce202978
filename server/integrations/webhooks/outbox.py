"""The outbox writer: the second subscriber of the change events (server/persistence/events.py).

Each applied record change whose country and kind some webhook asks for writes one `webhook_changes`
row in the transaction that writes the record: it commits with the record or not at all (a crash or
kill -9 loses none; a rolled-back batch, or a duplicate resend, which changes nothing and publishes
nothing, sends none). The body is made now, from the record as this change left it, with the line
list's row builder (`server.operations.linelist.line_row`), so a receiver gets each version exactly
as committed, never more than a coordinator's line list shows.

One row per change, however many webhooks want it: the delivery worker routes it to each webhook's
queue afterwards (server/integrations/webhooks/routing.py), so ten webhooks cost a push what one
does. Which countries and events have a webhook, and each site's area and type, come from the
reference snapshot the batch was checked against (server/persistence/reference_cache.py): a push
with no webhook wanting its changes reads and writes nothing here.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import insert, select

from server.models import Team, WebhookChange
from server.operations.linelist import line_row
from server.persistence.events import ChangeBatch, RecordChange, subscribe
from server.persistence.reference_cache import ReferenceSnapshot
from server.persistence.timeutil import isoformat_z, utcnow

_CHANGES = WebhookChange.__table__


def init_app(app: Flask) -> None:
    subscribe(on_record_changes)


def on_record_changes(batch: ChangeBatch) -> None:
    routes = batch.reference.webhook_routes
    if not routes:  # the common case: no webhook at all, nothing read or written
        return
    # A batch's records are the writing device's team's (the envelope's same-team rule); a
    # coordinator's resolution names the record's team. Other teams are looked up, once.
    countries = {batch.device.team_id: batch.device.country}
    others = {change.after.team_id for change in batch.changes} - countries.keys()
    if others:
        countries.update(batch.session.execute(select(Team.id, Team.country_code).where(Team.id.in_(others))).all())
    wanted = [change for change in batch.changes
              if (countries.get(change.after.team_id), change.kind.value) in routes]
    if not wanted:
        return
    now = utcnow()
    batch.session.execute(insert(_CHANGES), [
        {"seq": change.after.seq, "country": countries[change.after.team_id], "type": change.kind.value,
         "record_id": change.after.id, "version": change.after.version,
         "payload": _body(change, countries[change.after.team_id], batch.reference, now), "created_at": now}
        for change in wanted])


def _body(change: RecordChange, country: str, reference: ReferenceSnapshot, now: Any) -> str:
    state = change.after
    area_id, site_type = reference.site_places.get(state.site_id, (None, None))
    data = line_row(state.seq, state.id, state.entity, state.version, state.status, country, area_id,
                    state.site_id, site_type, state.team_id, state.occurred_on, state.recorded_at,
                    state.data.get("population_group"), state.data.get("beneficiary_ref"), state.data,
                    state.clock_suspect, state.received_at)
    return json.dumps({"type": change.kind.value, "timestamp": isoformat_z(now), "data": data},
                      separators=(",", ":"), ensure_ascii=False)
