"""POST /api/v1/sync/push over HTTP, on SQLite and PostgreSQL: item statuses and batch-level answers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from config import Limits
from server import intake
from server.extensions import db
from server.intake.envelope import lock_id
from server.models import AppliedOp, Conflict, Device, QuarantinedMutation, Record, RecordRevision, SyncBatch
from server.persistence.timeutil import isoformat_z, utcnow
from sync.fingerprint import fingerprint
from sync.push import mutation_to_wire, parse_mutation
from tests.factories import (
    EnrolledDevice,
    consultation_data,
    correct_mutation,
    create_mutation,
    distribution_data,
    make_device,
    push_body,
    push_headers,
    void_mutation,
)

PUSH = "/api/v1/sync/push"


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[dict[str, Any]], **body_options: Any):
    body = push_body(mutations, **body_options)
    return client.post(PUSH, json=body, headers=push_headers(device, body))


def count(session: Session, model: type, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- item statuses ------------------------------------------------------------------------------


def test_creates_are_applied_with_server_bookkeeping(client, session, device) -> None:
    mutations = [create_mutation(entity) for entity in ("consultation", "distribution", "outreach")]
    response = push(client, device, mutations)

    assert response.status_code == 200
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == ["applied"] * 3
    assert [r["op_id"] for r in body["results"]] == [m["op_id"] for m in mutations]
    seqs = [r["seq"] for r in body["results"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    for mutation, result in zip(mutations, body["results"], strict=True):
        record = session.get(Record, mutation["id"])
        assert (record.version, record.seq, record.status, record.clock_suspect) == (1, result["seq"], "active", False)
        assert record.device_id == device.device.id and record.received_at is not None
    revisions = session.scalars(select(RecordRevision).where(RecordRevision.record_id == mutations[0]["id"])).all()
    assert [(r.version, r.kind, r.op_id) for r in revisions] == [(1, "create", mutations[0]["op_id"])]
    assert revisions[0].changed["sex"] == "f"
    assert count(session, AppliedOp, AppliedOp.op_id.in_([m["op_id"] for m in mutations])) == 3


def test_the_device_app_version_is_recorded(client, session, device) -> None:
    assert push(client, device, [create_mutation()], app_version="2.0.1").status_code == 200
    session.expire_all()
    assert session.get(Device, device.device.id).app_version == "2.0.1"


def test_an_op_resent_in_another_batch_later_is_a_duplicate_with_its_original_outcome(client, session, device) -> None:
    mutation = create_mutation()
    first = push(client, device, [mutation]).get_json()["results"][0]
    again = push(client, device, [mutation]).get_json()["results"][0]

    assert again == {**first, "status": "duplicate"}
    assert count(session, Record, Record.id == mutation["id"]) == 1
    assert count(session, RecordRevision, RecordRevision.record_id == mutation["id"]) == 1


def test_a_create_for_an_existing_id_is_duplicate_if_identical_else_id_collision(client, session, device) -> None:
    original = create_mutation()
    push(client, device, [original])
    same = create_mutation(record_id=original["id"], data=original["data"])
    different = create_mutation(record_id=original["id"], data={**original["data"], "sex": "m"})

    results = push(client, device, [same, different]).get_json()["results"]

    assert results[0]["status"] == "duplicate" and results[0]["version"] == 1
    assert results[1]["status"] == "rejected"
    assert "id_collision" in results[1]["errors"]["id"][0]
    assert session.get(Record, original["id"]).data["sex"] == "f"


def test_a_correction_makes_a_new_version_and_revision(client, session, device) -> None:
    created = create_mutation()
    push(client, device, [created])
    correction = correct_mutation(created["id"], 1, {"sex": "m"}, reason="wrong sex")

    result = push(client, device, [correction]).get_json()["results"][0]

    assert result["status"] == "applied" and result["version"] == 2
    record = session.get(Record, created["id"])
    assert (record.version, record.data["sex"], record.seq) == (2, "m", result["seq"])
    revision = session.scalars(select(RecordRevision).where(RecordRevision.version == 2,
                                                            RecordRevision.record_id == created["id"])).one()
    assert (revision.kind, revision.changed, revision.reason) == ("correct", {"sex": "m"}, "wrong sex")


def test_stale_corrections_merge_when_disjoint_and_conflict_when_overlapping(client, session, device) -> None:
    created = create_mutation()
    push(client, device, [created])
    push(client, device, [correct_mutation(created["id"], 1, {"sex": "m"})])

    disjoint = correct_mutation(created["id"], 1, {"visit": "follow_up"})
    overlapping = correct_mutation(created["id"], 1, {"sex": "x"})
    results = push(client, device, [disjoint, overlapping]).get_json()["results"]

    assert results[0]["status"] == "applied" and results[0]["version"] == 3
    assert results[1] == {"op_id": overlapping["op_id"], "status": "conflict", "id": created["id"],
                          "current_version": 3, "current": {"sex": "m"}}
    record = session.get(Record, created["id"])
    assert (record.data["sex"], record.data["visit"], record.version) == ("m", "follow_up", 3)
    conflict = session.scalars(select(Conflict).where(Conflict.record_id == created["id"])).one()
    assert (conflict.base_version, conflict.current_version, conflict.status) == (1, 3, "open")
    assert conflict.mutation["data"] == {"sex": "x"} and conflict.team_id == "ly-mmt-tripoli"


def test_a_void_is_a_new_version_and_wins_over_a_later_correction(client, session, device) -> None:
    created = create_mutation("distribution")
    push(client, device, [created])

    void = void_mutation(created["id"], 1, entity="distribution")
    late = correct_mutation(created["id"], 1, {"quantity": 3}, entity="distribution")
    results = push(client, device, [void, late]).get_json()["results"]

    assert results[0]["status"] == "applied" and results[0]["version"] == 2
    assert results[1]["status"] == "conflict" and results[1]["current"]["status"] == "voided"
    record = session.get(Record, created["id"])
    assert (record.status, record.version, record.data["quantity"]) == ("voided", 2, 1)


def test_invalid_items_are_rejected_with_field_messages_and_quarantined_while_valid_ones_apply(
    client, session, device
) -> None:
    valid = create_mutation()
    other_team_site = create_mutation(data=consultation_data(site_id="ly-mp-benghazi"))
    unknown_item = create_mutation("distribution", distribution_data(item_code="no-such-kit"))
    bad_enum = create_mutation(data=consultation_data(sex="q", extra="?"))
    future = create_mutation(data=consultation_data(occurred_on=(utcnow() + timedelta(days=5)).date().isoformat()))
    not_an_object = "garbage"

    response = push(client, device, [valid, other_team_site, unknown_item, bad_enum, future, not_an_object])

    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["applied"] + ["rejected"] * 5
    assert results[1]["errors"] == {"data.site_id": ["Unknown site for this team."]}
    assert results[2]["errors"] == {"data.item_code": ["Unknown item."]}
    assert set(results[3]["errors"]) == {"data.sex", "data.extra"}
    assert set(results[4]["errors"]) == {"data.occurred_on"}
    assert results[5]["op_id"] is None and "mutation" in results[5]["errors"]
    assert session.get(Record, valid["id"]) is not None
    assert count(session, Record, Record.id.in_([other_team_site["id"], unknown_item["id"]])) == 0
    kept = session.scalars(
        select(QuarantinedMutation).where(QuarantinedMutation.device_id == device.device.id)
        .order_by(QuarantinedMutation.id)).all()
    assert [q.mutation for q in kept] == [other_team_site, unknown_item, bad_enum, future, not_an_object]
    assert {q.reason for q in kept} == {"rejected"}
    assert kept[0].errors == {"data.site_id": ["Unknown site for this team."]} and kept[0].team_id == "ly-mmt-tripoli"


def test_a_client_time_off_by_more_than_a_day_marks_records_clock_suspect(client, session, device) -> None:
    created = create_mutation()
    response = push(client, device, [created], client_time=isoformat_z(utcnow() - timedelta(days=2)))
    body = response.get_json()
    assert abs(body["clock_offset_ms"] - 2 * 86_400_000) < 60_000
    assert session.get(Record, created["id"]).clock_suspect is True


# --- batch-level answers ------------------------------------------------------------------------


def test_replaying_a_batch_returns_the_stored_response_and_changes_nothing(client, session, device) -> None:
    body = push_body([create_mutation(), create_mutation()])
    first = client.post(PUSH, json=body, headers=push_headers(device, body))
    seq_before = session.scalar(text("SELECT value FROM seq_counter"))

    again = client.post(PUSH, json=body, headers=push_headers(device, body))

    assert first.status_code == again.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert session.scalar(text("SELECT value FROM seq_counter")) == seq_before
    assert count(session, SyncBatch, SyncBatch.batch_id == body["batch_id"]) == 1


def test_the_stored_hashes_are_those_of_the_body_and_of_each_normalised_op(client, session, device) -> None:
    # The server hashes the batch from its items' encoded bytes, and each op from those bytes where
    # the op is already in normal form: what it stores must be the hashes of the values themselves,
    # or a re-send after an upgrade (or from the other path) would be refused as another body.
    canonical = create_mutation()
    upper = create_mutation()
    upper["op_id"] = upper["op_id"].upper()
    null_reason = {**create_mutation(), "reason": None}
    body = push_body([canonical, upper, null_reason])
    assert client.post(PUSH, json=body, headers=push_headers(device, body)).status_code == 200

    assert session.get(SyncBatch, body["batch_id"]).body_hash == fingerprint(body)
    for raw in (canonical, upper, null_reason):
        mutation, _ = parse_mutation(raw)
        assert mutation is not None
        stored = session.get(AppliedOp, mutation.op_id)
        assert stored.outcome["fingerprint"] == fingerprint(mutation_to_wire(mutation))


def test_a_key_reused_with_a_different_body_is_422(client, device) -> None:
    body = push_body([create_mutation()])
    client.post(PUSH, json=body, headers=push_headers(device, body))
    changed = {**body, "mutations": [create_mutation()]}

    response = client.post(PUSH, json=changed, headers=push_headers(device, changed))

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"


def test_another_devices_batch_key_is_never_replayed_to_it(client, session, device) -> None:
    body = push_body([create_mutation()])
    client.post(PUSH, json=body, headers=push_headers(device, body))
    intruder = make_device(session, team_id="ly-mmt-benghazi")

    response = client.post(PUSH, json=body, headers=push_headers(intruder, body))

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("header", "message"),
    [(None, "Missing."), (str(uuid.uuid4()), "Must equal batch_id.")],
    ids=["missing", "another-uuid"],  # fixed: a fresh uuid in an id would differ between xdist's workers
)
def test_the_idempotency_key_must_equal_batch_id(client, device, header: str | None, message: str) -> None:
    body = push_body([create_mutation()])
    headers = device.headers if header is None else {**device.headers, "Idempotency-Key": header}

    response = client.post(PUSH, json=body, headers=headers)

    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"Idempotency-Key": [message]}


def test_the_key_matches_batch_id_whatever_its_case(client, device) -> None:
    body = push_body([create_mutation()])
    headers = {**device.headers, "Idempotency-Key": body["batch_id"].upper()}
    assert client.post(PUSH, json=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"client_time": None}, {"client_time"}),
        ({"batch_id": "not-a-uuid", "schema_version": "1"}, {"batch_id", "schema_version"}),
        ({"mutations": {"op_id": "x"}, "surprise": 1}, {"mutations", "surprise"}),
    ],
)
def test_a_malformed_envelope_is_400_with_field_messages(client, session, device, change, fields) -> None:
    body = {**push_body([create_mutation()]), **change}
    headers = {**device.headers, "Idempotency-Key": str(body["batch_id"])}

    response = client.post(PUSH, json=body, headers=headers)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "malformed_request" and set(error["fields"]) == fields


def test_a_body_that_is_not_an_object_is_400(client, device) -> None:
    response = client.post(PUSH, json=[1, 2], headers={**device.headers, "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 400


def test_without_a_device_token_it_is_401(client, session) -> None:
    body = push_body([create_mutation()])
    assert client.post(PUSH, json=body, headers={"Idempotency-Key": body["batch_id"]}).status_code == 401
    bad = {"Authorization": "Bearer fsd_nope", "Idempotency-Key": body["batch_id"]}
    assert client.post(PUSH, json=body, headers=bad).status_code == 401


def test_a_revoked_device_gets_403_wipe_and_its_mutations_are_kept_in_quarantine(client, session) -> None:
    revoked = make_device(session, revoked=True)
    session.commit()
    kept = [create_mutation(), create_mutation("outreach")]
    body = push_body([*kept, {"kind": "nonsense"}])

    first = client.post(PUSH, json=body, headers=push_headers(revoked, body))
    again = client.post(PUSH, json=body, headers=push_headers(revoked, body))

    for response in (first, again):
        assert response.status_code == 403
        payload = response.get_json()
        assert payload["error"]["code"] == "device_revoked" and payload["wipe"] is True
    # The error response still committed them (g.commit_on_error); the retry added none.
    rows = session.scalars(select(QuarantinedMutation).where(QuarantinedMutation.device_id == revoked.device.id)
                           .order_by(QuarantinedMutation.id)).all()
    assert [(q.mutation, q.reason, q.batch_id) for q in rows] == [(m, "device_revoked", body["batch_id"]) for m in kept]
    assert count(session, Record, Record.id.in_([m["id"] for m in kept])) == 0


def test_more_mutations_than_the_limit_is_413(app: Flask, client, device, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", Limits(push_max_mutations=2))
    response = push(client, device, [create_mutation() for _ in range(3)])
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert push(client, device, [create_mutation() for _ in range(2)]).status_code == 200


def test_more_bytes_than_the_limit_is_413(app: Flask, client, device, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", Limits(push_max_bytes=2_000))
    response = push(client, device, [create_mutation() for _ in range(10)])
    assert response.status_code == 413


def test_a_batch_in_flight_is_409(app: Flask, client, device, engine_name: str) -> None:
    if engine_name != "postgresql":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE): a second request waits, then replays")
    body = push_body([create_mutation()])
    # Another worker's transaction holds the batch: the same advisory lock, from another connection.
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(intake.PUSH, body["batch_id"])})
        response = client.post(PUSH, json=body, headers=push_headers(device, body))
        other.rollback()
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "batch_in_flight"
    assert client.post(PUSH, json=body, headers=push_headers(device, body)).status_code == 200
