"""Webhooks (issue 28, api.md v1.2): Standard Webhooks deliveries of record changes, through an outbox.

- `outbox.py`: the change events' second subscriber; writes one outbox row per wanted change with the record.
- `routing.py`: the worker routes committed changes to each webhook's queue of deliveries.
- `worker.py`: the delivery worker (`flask --app server webhooks worker`, started by `make run`).
- `delivery.py`: one signed HTTP attempt; `signature.py`: Standard Webhooks signing; `urls.py`: where
  a webhook may point.
- `service.py`: the operations behind `server/api/webhooks.py` and the dashboard's Integrations page.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from server.integrations.webhooks import outbox
    from server.integrations.webhooks.metrics import OutboxCollector
    from server.web import metrics

    outbox.init_app(app)
    metrics.add_database_collector(OutboxCollector)
