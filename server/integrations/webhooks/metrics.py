"""`/metrics` for webhooks, read from the outbox at scrape time: the worker is a process of its own,
so its outcomes are counted where every process sees them, in the database.

- `fieldsync_webhook_outbox_changes`: committed changes the worker has not yet routed to their
  webhooks' queues (near 0 while a worker runs; grows while none does).
- `fieldsync_webhook_events{status}`: events in the webhooks' queues by status (`pending` is the
  delivery backlog; `delivered` and `failed` are the outcomes kept for WEBHOOK_RETENTION_DAYS).
- `fieldsync_webhook_attempts`: delivery attempts of the events kept.
- `fieldsync_webhook_oldest_pending_age_seconds`: how late the oldest pending event is.
- `fieldsync_webhook_events_dropped`: events not queued because a webhook's backlog was full.
Labels are bounded: three statuses, no webhook ids or URLs.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from server.extensions import db
from server.models import Webhook, WebhookChange, WebhookEvent
from server.models.webhooks import DELIVERED, FAILED, PENDING
from server.persistence.timeutil import utcnow


class OutboxCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        unrouted = db.session.scalar(select(func.count()).select_from(WebhookChange))
        yield GaugeMetricFamily("fieldsync_webhook_outbox_changes",
                                "Committed record changes not yet routed to their webhooks' queues",
                                value=int(unrouted or 0))
        events = GaugeMetricFamily("fieldsync_webhook_events", "Webhook events in the outbox by status",
                                   labels=["status"])
        counts = dict(db.session.execute(select(WebhookEvent.status, func.count())
                                         .group_by(WebhookEvent.status)).all())
        for status in (PENDING, DELIVERED, FAILED):
            events.add_metric([status], counts.get(status, 0))
        yield events
        attempts = db.session.scalar(select(func.coalesce(func.sum(WebhookEvent.attempts), 0)))
        yield GaugeMetricFamily("fieldsync_webhook_attempts", "Delivery attempts of the events kept",
                                value=int(attempts or 0))
        oldest = db.session.scalar(select(func.min(WebhookEvent.created_at)).where(WebhookEvent.status == PENDING))
        yield GaugeMetricFamily("fieldsync_webhook_oldest_pending_age_seconds", "Age of the oldest pending event",
                                value=max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
        dropped = db.session.scalar(select(func.coalesce(func.sum(Webhook.dropped), 0)))
        yield GaugeMetricFamily("fieldsync_webhook_events_dropped",
                                "Events not queued because a webhook's pending backlog was full",
                                value=int(dropped or 0))
