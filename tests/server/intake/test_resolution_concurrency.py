"""Two coordinators resolving the same items at the same moment, with real commits, on both engines:
exactly one wins, the other gets 409, and the record gets exactly one new version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from server.extensions import db
from server.models import Conflict, QuarantinedMutation, Record, RecordRevision
from tests.factories import (
    auth_headers,
    consultation_data,
    correct_mutation,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
)

RACERS = 4


def _push(app: Flask, headers: dict[str, str], mutations: list[Any]) -> list[dict[str, Any]]:
    body = push_body(mutations)
    response = app.test_client().post("/api/v1/sync/push", json=body,
                                      headers={**headers, "Idempotency-Key": body["batch_id"]})
    assert response.status_code == 200
    return response.get_json()["results"]


def _race(app: Flask, request: Callable[[Any], Any]) -> list[int]:
    """Run `request(client)` in RACERS threads released together; their status codes."""
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []

    def run() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(request(client).status_code)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(statuses)


def test_one_coordinator_wins_a_conflict_and_the_record_moves_once(committed_app: Flask) -> None:
    with committed_app.app_context():
        device = make_device(db.session)
        coordinator = auth_headers(make_token(db.session, make_user(db.session)))
        db.session.commit()
        created = create_mutation()
        _push(committed_app, device.headers, [created])
        _push(committed_app, device.headers, [correct_mutation(created["id"], 1, {"sex": "m"})])
        _push(committed_app, device.headers, [correct_mutation(created["id"], 1, {"sex": "x"})])
        conflict_id = db.session.scalar(select(Conflict.id).where(Conflict.record_id == created["id"]))
        db.session.remove()

    statuses = _race(committed_app, lambda client: client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve", json={"use": "device"}, headers=coordinator))

    assert statuses == [200] + [409] * (RACERS - 1)
    with committed_app.app_context():
        assert db.session.scalar(select(Record.version).where(Record.id == created["id"])) == 3
        revisions = db.session.scalar(select(func.count()).where(RecordRevision.record_id == created["id"]))
        assert revisions == 3
        db.session.remove()


def test_one_coordinator_wins_a_quarantined_mutation(committed_app: Flask) -> None:
    with committed_app.app_context():
        device = make_device(db.session)
        coordinator = auth_headers(make_token(db.session, make_user(db.session)))
        db.session.commit()
        bad = create_mutation(data=consultation_data(sex="q"))
        _push(committed_app, device.headers, [bad])
        row_id = db.session.scalar(select(QuarantinedMutation.id).where(QuarantinedMutation.op_id == bad["op_id"]))
        db.session.remove()
    fixed = {**bad, "data": {**bad["data"], "sex": "f"}}

    statuses = _race(committed_app, lambda client: client.post(
        f"/api/v1/quarantine/{row_id}/apply", json={"mutation": fixed}, headers=coordinator))

    assert statuses == [200] + [409] * (RACERS - 1)
    with committed_app.app_context():
        row = db.session.get(QuarantinedMutation, row_id)
        assert row is not None and (row.status, row.resolution) == ("resolved", "applied")
        assert db.session.scalar(select(func.count()).where(Record.id == bad["id"])) == 1
        db.session.remove()
