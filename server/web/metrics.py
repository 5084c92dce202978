"""Prometheus metrics: `GET /metrics` (api.md "Additions (v1.1)"; public, restrict it at the proxy).

- `fieldsync_http_request_duration_seconds{route,method}`: request latency, by route (the Flask
  endpoint name, e.g. `aggregates.get_aggregates`, never the raw path: ids in paths would make a
  series per record; `unmatched` when no route matched) and method (the standard ones, else `other`);
  `fieldsync_http_requests_total{route,method,status}` counts them. No label grows with what clients send.
- `fieldsync_push_mutations_total{outcome}`: push item outcomes (applied, duplicate, conflict,
  rejected), counted when a batch is processed (a replayed batch repeats a stored answer: not counted).
- `fieldsync_quarantine_open{reason}`: open quarantined mutations, counted at scrape time.
- `fieldsync_team_last_sync_age_seconds{team,country}`: seconds since a device of the team last
  called the server (Device.last_seen_at, which every authenticated device request refreshes at most
  once a minute), at scrape time; teams whose devices never synced are absent.

Several gunicorn workers: each worker is its own process with its own counters, so prometheus_client
runs in multiprocess mode whenever PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py makes a fresh
directory per server start and marks exited workers dead): each worker writes its samples to files
there and a scrape, answered by any worker, adds up every worker's. The database gauges are computed
by whichever worker answers, from the shared database, so they need no such merging.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from server.extensions import db

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PUSH_OUTCOMES = ("applied", "duplicate", "conflict", "rejected")

REQUEST_LATENCY = Histogram("fieldsync_http_request_duration_seconds", "HTTP request latency by route",
                            ["route", "method"], buckets=BUCKETS)
REQUESTS = Counter("fieldsync_http_requests_total", "HTTP requests by route and status", ["route", "method", "status"])
PUSH_MUTATIONS = Counter("fieldsync_push_mutations_total", "Pushed mutations by outcome", ["outcome"])


def count_push_outcomes(results: Iterable[dict[str, Any]]) -> None:
    # Counted first, then one increment per outcome: each increment writes the multiprocess
    # mmap file, and one per item cost ~3 ms of a 500-item batch.
    counts = collections.Counter(result.get("status") for result in results)
    for outcome in PUSH_OUTCOMES:
        if counts[outcome]:
            PUSH_MUTATIONS.labels(outcome).inc(counts[outcome])


# Every label takes its values from a closed set, so no client can grow the scrape: a method is one
# of these or `other` (an invented method added ~16 series per request before), a route is the
# endpoint of the matched rule (a fixed set of the app's) or `unmatched`, a status a 3-digit code.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of() -> str:
    return request.endpoint or "unmatched"


def method_of() -> str:
    return request.method if request.method in KNOWN_METHODS else "other"


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        route, method = route_of(), method_of()
        REQUEST_LATENCY.labels(route, method).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
    return response


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time (the caller's app context)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from server.models import Device, QuarantinedMutation, Team
        from server.persistence.timeutil import utcnow

        quarantine = GaugeMetricFamily("fieldsync_quarantine_open", "Open quarantined mutations", labels=["reason"])
        rows = db.session.execute(select(QuarantinedMutation.reason, func.count())
                                  .where(QuarantinedMutation.status == "open")
                                  .group_by(QuarantinedMutation.reason)).all()
        for reason, count in sorted(rows):
            quarantine.add_metric([reason], count)
        yield quarantine

        age = GaugeMetricFamily("fieldsync_team_last_sync_age_seconds",
                                "Seconds since a device of the team last synced", labels=["team", "country"])
        now = utcnow()
        rows = db.session.execute(select(Team.id, Team.country_code, func.max(Device.last_seen_at))
                                  .join(Device, Device.team_id == Team.id)
                                  .where(Device.last_seen_at.is_not(None))
                                  .group_by(Team.id, Team.country_code)).all()
        for team, country, last_seen in sorted(rows):
            age.add_metric([team, country], max(0.0, (now - last_seen).total_seconds()))
        yield age


def exposition() -> bytes:
    """Every worker's samples (multiprocess mode) or this process's, plus the database gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (flask run, tests): the default registry holds this module's metrics
        registry = CollectorRegistry()
        registry.register(_Delegate(REGISTRY))
    registry.register(DatabaseCollector())
    for collector in _database_collectors:
        registry.register(collector())
    return generate_latest(registry)


# Other packages' scrape-time gauges (webhooks), registered from their init_app.
_database_collectors: list[type[Collector]] = []


def add_database_collector(collector: type[Collector]) -> None:
    if collector not in _database_collectors:
        _database_collectors.append(collector)


class _Delegate(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        return iter(self._registry.collect())


def response() -> Response:
    # generate_latest writes the classic text format 0.0.4, which every Prometheus reads.
    return Response(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
