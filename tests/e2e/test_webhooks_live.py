"""Webhooks end to end (issue 28): `make run`'s gunicorn and delivery worker, on both engines, a real
receiver on loopback verifying every delivery with the `standardwebhooks` package.

- A push's events reach the listening receiver within 5 s (api.md v1.2), creates, corrections and
  voids, each (record id, version) of the records' history exactly once.
- The worker killed with `kill -9` while a delivery is in flight, then started again: nothing is lost;
  the only repeat is the event that was in flight (same `webhook-id`), as at-least-once allows. On
  PostgreSQL a second worker then runs beside it, and still nothing is lost or repeated.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select

from server.extensions import db
from server.models import RecordRevision
from tests.e2e.live_server import direct_app, live_server, prepare_database, start_webhook_worker
from tests.factories import (
    auth_headers,
    correct_mutation,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    void_mutation,
)
from tests.webhook_receiver import Receiver

ENV = {"WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_ALLOWED_HTTP_HOSTS": "127.0.0.1", "WEBHOOK_LEASE_SECONDS": "3",
       "WEBHOOK_RETRY_BASE_SECONDS": "0.5", "WEBHOOK_RETRY_MAX_WAIT_SECONDS": "1", "WEBHOOK_POLL_SECONDS": "0.2"}


def accounts(database_url: str) -> tuple[dict[str, str], dict[str, str]]:
    app = direct_app(database_url)
    with app.app_context():
        coordinator = auth_headers(make_token(db.session, make_user(db.session)))
        device = make_device(db.session)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return coordinator, device.headers


def history(database_url: str) -> set[tuple[str, int]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {(row.record_id, row.version)
                    for row in connection.execute(select(RecordRevision.record_id, RecordRevision.version))}
    finally:
        engine.dispose()


def push(url: str, device: dict[str, str], mutations: list[dict[str, Any]]) -> None:
    body = push_body(mutations)
    response = requests.post(url + "/api/v1/sync/push", json=body,
                             headers={**device, "Idempotency-Key": body["batch_id"]}, timeout=30)
    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {"applied"}


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_events_arrive_within_5_s_and_a_kill_9_mid_delivery_loses_none(make_database_url, engine: str,
                                                                        tmp_path: Path) -> None:
    url = make_database_url(engine)
    prepare_database(url)
    coordinator, device = accounts(url)
    in_flight = threading.Event()
    hold = {"attempt": None}

    def behaviour(attempt: int) -> Any:
        if hold["attempt"] == attempt:
            in_flight.set()
            return ("slow", 4)  # the worker is killed while it waits for this answer
        return 204

    with Receiver(behaviour=behaviour) as receiver, \
            live_server(url, workers=2, env=ENV, webhook_worker=True) as server:
        created = requests.post(server.url + "/api/v1/webhooks", headers=coordinator, timeout=30,
                                json={"url": receiver.url, "countries": ["LY"],
                                      "events": ["record.created", "record.corrected", "record.voided"]})
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]
        # Deliveries are background work: the worker runs below gunicorn's priority.
        assert server.webhook_worker_pid is not None
        deadline = time.monotonic() + 20
        while os.getpriority(os.PRIO_PROCESS, server.webhook_worker_pid) != 10 and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker lowers itself once its app is built
        assert os.getpriority(os.PRIO_PROCESS, server.webhook_worker_pid) == 10

        first = [create_mutation(), create_mutation("distribution"), create_mutation("outreach")]
        started = time.monotonic()
        push(server.url, device, first)
        assert receiver.wait_for(lambda r: len(r.accepted) == 3, timeout=5), receiver.rejected
        assert time.monotonic() - started < 5
        push(server.url, device, [correct_mutation(first[0]["id"], 1, {"sex": "m"}),
                                  void_mutation(first[1]["id"], 1, entity="distribution")])
        assert receiver.wait_for(lambda r: len(r.accepted) == 5, timeout=5)

        # kill -9 while the next delivery waits for its answer; a new worker (as make run restarts it).
        hold["attempt"] = receiver.attempts + 1
        second = [create_mutation() for _ in range(3)]
        push(server.url, device, second)
        assert in_flight.wait(timeout=10)
        assert server.webhook_worker_pid is not None
        os.killpg(server.webhook_worker_pid, signal.SIGKILL)
        restarted = [start_webhook_worker(server.environment, tmp_path / "worker.log")]
        try:
            assert receiver.wait_for(lambda r: r.versions() == history(url), timeout=30), (
                sorted(history(url) - receiver.versions()))
            if engine == "postgresql":
                # Several workers may run on PostgreSQL: one routes at a time, one sends a webhook's
                # events at a time, so a second worker neither loses nor repeats an event.
                restarted.append(start_webhook_worker(server.environment, tmp_path / "worker2.log"))
                for _ in range(5):
                    push(server.url, device, [create_mutation() for _ in range(10)])
                assert receiver.wait_for(lambda r: r.versions() == history(url), timeout=30), (
                    sorted(history(url) - receiver.versions()))
        finally:
            for worker in restarted:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=20)

    assert receiver.rejected == []
    assert receiver.versions() == history(url)
    repeats = [event_id for event_id, count in Counter(d.event_id for d in receiver.accepted).items() if count > 1]
    # The slow attempt's answer came after the kill: it may arrive twice, nothing else does.
    assert len(repeats) <= 1
    assert len(receiver.accepted) - len(history(url)) == len(repeats)
