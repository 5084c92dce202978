"""One transaction per batch, and transient database errors retried instead of surfacing as 500.

Faults are injected into the real store (the database and the engine run for real): a store
method raises after the batch has already written part of its work.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server.intake import envelope
from server.models import AppliedOp, QuarantinedMutation, Record, RecordRevision, SyncBatch
from server.persistence.store import SqlRecordStore
from tests.factories import consultation_data, create_mutation, push_body, push_headers

PUSH = "/api/v1/sync/push"


def _batch() -> dict[str, Any]:
    # Valid creates around a rejected item, so every kind of row the batch writes is involved.
    return push_body([create_mutation(), create_mutation(data=consultation_data(sex="?")), create_mutation()])


def _nothing_of(session: Session, body: dict[str, Any]) -> None:
    ids = [m["id"] for m in body["mutations"]]
    ops = [m["op_id"] for m in body["mutations"]]
    assert session.scalar(select(func.count()).select_from(Record).where(Record.id.in_(ids))) == 0
    assert session.scalar(select(func.count()).select_from(RecordRevision)
                          .where(RecordRevision.record_id.in_(ids))) == 0
    assert session.scalar(select(func.count()).select_from(AppliedOp).where(AppliedOp.op_id.in_(ops))) == 0
    assert session.scalar(select(func.count()).select_from(QuarantinedMutation)
                          .where(QuarantinedMutation.batch_id == body["batch_id"])) == 0
    assert session.get(SyncBatch, body["batch_id"]) is None


def _fail_on_second_insert(monkeypatch: pytest.MonkeyPatch, error: Exception, times: int | None = None) -> list[int]:
    """Make `insert_record` raise on its second call (the first record is already staged)."""
    calls: list[int] = []
    failures = [0]
    original = SqlRecordStore.insert_record

    def insert_record(self: SqlRecordStore, record: Any) -> None:
        calls.append(1)
        if len(calls) % 2 == 0 and (times is None or failures[0] < times):
            failures[0] += 1
            raise error
        original(self, record)

    monkeypatch.setattr(SqlRecordStore, "insert_record", insert_record)
    return failures


def test_a_failure_mid_batch_stores_nothing_of_it_and_a_retry_applies_it_cleanly(
    client, session, device, monkeypatch
) -> None:
    body = _batch()
    seq_before = session.scalar(text("SELECT value FROM seq_counter"))
    _fail_on_second_insert(monkeypatch, RuntimeError("worker crashed"))

    crashed = client.post(PUSH, json=body, headers=push_headers(device, body))

    assert crashed.status_code == 500
    session.expire_all()
    _nothing_of(session, body)
    assert session.scalar(text("SELECT value FROM seq_counter")) == seq_before

    monkeypatch.undo()
    retried = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert [r["status"] for r in retried.get_json()["results"]] == ["applied", "rejected", "applied"]
    assert session.scalar(select(func.count()).select_from(QuarantinedMutation)
                          .where(QuarantinedMutation.batch_id == body["batch_id"])) == 1


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("INSERT", {}, Exception("database is locked")),
        IntegrityError("INSERT", {}, type("UniqueViolation", (Exception,), {"sqlstate": "23505"})()),
    ],
    ids=["sqlite-busy", "unique-violation"],
)
def test_a_transient_error_reruns_the_whole_batch_once(client, session, device, monkeypatch, error) -> None:
    monkeypatch.setattr(envelope.time, "sleep", lambda seconds: None)
    failures = _fail_on_second_insert(monkeypatch, error, times=1)
    body = _batch()

    response = client.post(PUSH, json=body, headers=push_headers(device, body))

    assert failures == [1]
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["results"]] == ["applied", "rejected", "applied"]
    # Exactly once, although the first attempt had already staged a record and a quarantine row.
    ids = [m["id"] for m in body["mutations"]]
    assert session.scalar(select(func.count()).select_from(Record).where(Record.id.in_(ids))) == 2
    assert session.scalar(select(func.count()).select_from(QuarantinedMutation)
                          .where(QuarantinedMutation.batch_id == body["batch_id"])) == 1


def test_when_retries_run_out_the_answer_is_503_with_retry_after(client, session, device, monkeypatch) -> None:
    monkeypatch.setattr(envelope.time, "sleep", lambda seconds: None)
    deadlock = type("DeadlockDetected", (Exception,), {"sqlstate": "40P01"})()
    failures = _fail_on_second_insert(monkeypatch, OperationalError("UPDATE", {}, deadlock))
    body = _batch()

    response = client.post(PUSH, json=body, headers=push_headers(device, body))

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["error"]["code"] == "temporarily_unavailable"
    assert failures[0] == envelope.MAX_ATTEMPTS
    session.expire_all()
    _nothing_of(session, body)


def test_a_programming_error_is_not_retried(client, device, monkeypatch) -> None:
    failures = _fail_on_second_insert(monkeypatch, OperationalError("SELECT", {}, Exception("no such column: x")))
    body = _batch()
    assert client.post(PUSH, json=body, headers=push_headers(device, body)).status_code == 500
    assert failures == [1]
