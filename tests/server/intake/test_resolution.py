"""Coordinators resolve data-quality items: POST /api/v1/conflicts/<id>/resolve,
/api/v1/quarantine/<id>/discard and /api/v1/quarantine/<id>/apply.

Conflicts and quarantined mutations are made the real way, by pushing through /api/v1/sync/push.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Conflict, QuarantinedMutation, Record, RecordRevision, User
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    consultation_data,
    correct_mutation,
    create_mutation,
    make_device,
    make_team,
    make_token,
    make_user,
    push_body,
    push_headers,
    void_mutation,
)

PUSH = "/api/v1/sync/push"


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[Any], status: int = 200) -> list[dict]:
    body = push_body(mutations)
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == status, response.get_json()
    return response.get_json().get("results", [])


@pytest.fixture
def coordinator_user(session: Session) -> User:
    return make_user(session, role="coordinator", countries=("LY",))


@pytest.fixture
def coordinator(session: Session, coordinator_user: User) -> dict[str, str]:
    return auth_headers(make_token(session, coordinator_user))


@pytest.fixture
def outsider(session: Session) -> dict[str, str]:
    """A coordinator of another country programme."""
    make_team(session)
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("TN",))))


def make_conflict(client: FlaskClient, session: Session, device: EnrolledDevice) -> tuple[str, int]:
    """A consultation whose sex was corrected to "m" on the server while the tablet, still at
    version 1, corrected it to "x": (record id, conflict id)."""
    created = create_mutation()
    push(client, device, [created])
    push(client, device, [correct_mutation(created["id"], 1, {"sex": "m"})])
    stale = correct_mutation(created["id"], 1, {"sex": "x", "referral": True}, reason="asked again")
    assert push(client, device, [stale])[0]["status"] == "conflict"
    conflict_id = session.scalar(select(Conflict.id).where(Conflict.op_id == stale["op_id"]))
    assert conflict_id is not None
    return created["id"], conflict_id


def resolve(client: FlaskClient, conflict_id: int, headers: dict[str, str], use: str = "server") -> Any:
    return client.post(f"/api/v1/conflicts/{conflict_id}/resolve", json={"use": use}, headers=headers)


def history(client: FlaskClient, record_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/records/{record_id}/history", headers=headers)
    assert response.status_code == 200
    return response.get_json()


def open_conflict_ids(client: FlaskClient, headers: dict[str, str]) -> list[int]:
    return [item["id"] for item in client.get("/api/v1/conflicts", headers=headers).get_json()["items"]]


def open_quarantine_ids(client: FlaskClient, headers: dict[str, str]) -> list[int]:
    return [item["id"] for item in client.get("/api/v1/quarantine", headers=headers).get_json()["items"]]


def quarantined_id(session: Session, op_id: str) -> int:
    row_id = session.scalar(select(QuarantinedMutation.id).where(QuarantinedMutation.op_id == op_id))
    assert row_id is not None
    return row_id


def quarantine_count(session: Session) -> int:
    return session.scalar(select(func.count(QuarantinedMutation.id))) or 0


# --- conflicts -----------------------------------------------------------------------------------


def test_keeping_the_server_value_closes_the_conflict_and_changes_no_record(
    client, session, device, coordinator, coordinator_user
) -> None:
    record_id, conflict_id = make_conflict(client, session, device)

    response = resolve(client, conflict_id, coordinator, "server")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["status"], body["resolution"], body["resolved_by"], body["result"]) == (
        conflict_id, "resolved", "server", coordinator_user.username, None)
    assert body["resolved_at"].endswith("Z")
    record = history(client, record_id, coordinator)
    assert (record["version"], record["data"]["sex"], record["data"]["referral"]) == (2, "m", False)
    assert conflict_id not in open_conflict_ids(client, coordinator)
    devices = client.get("/api/v1/devices", headers=coordinator).get_json()["items"]
    assert next(d for d in devices if d["id"] == device.device.id)["pending_conflicts"] == 0


def test_using_the_device_value_writes_a_correction_authored_by_the_coordinator(
    client, session, device, coordinator, coordinator_user
) -> None:
    record_id, conflict_id = make_conflict(client, session, device)
    seq_before = session.scalar(select(Record.seq).where(Record.id == record_id))

    response = resolve(client, conflict_id, coordinator, "device")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["resolution"]) == ("resolved", "device")
    assert (body["result"]["status"], body["result"]["id"], body["result"]["version"]) == ("applied", record_id, 3)
    record = history(client, record_id, coordinator)
    assert (record["version"], record["data"]["sex"], record["data"]["referral"]) == (3, "x", True)
    latest = record["revisions"][-1]
    assert (latest["version"], latest["kind"], latest["changes"]) == (3, "correct", {"referral": True, "sex": "x"})
    assert f"Conflict {conflict_id}" in latest["reason"] and coordinator_user.username in latest["reason"]
    revision = session.scalars(
        select(RecordRevision).where(RecordRevision.record_id == record_id, RecordRevision.version == 3)
    ).one()
    assert (revision.user_id, revision.device_id) == (coordinator_user.id, device.device.id)
    # A new version with a new seq: tablets pull it like any other change.
    assert session.scalar(select(Record.seq).where(Record.id == record_id)) > seq_before
    # The rollups moved in the same transaction: the aggregate counts the corrected value.
    counts = client.get("/api/v1/aggregates", query_string={"indicator": "health_consultations", "sex": "x",
                                                            "team": device.device.team_id}, headers=coordinator)
    assert counts.status_code == 200 and counts.get_json()["total"] == 1


def test_a_resolved_conflict_cannot_be_resolved_again(client, session, device, coordinator) -> None:
    _, conflict_id = make_conflict(client, session, device)
    assert resolve(client, conflict_id, coordinator, "server").status_code == 200

    again = resolve(client, conflict_id, coordinator, "device")

    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_resolved"


def test_the_device_value_of_a_voided_record_is_refused_and_the_conflict_stays_open(
    client, session, device, coordinator
) -> None:
    record_id, conflict_id = make_conflict(client, session, device)
    push(client, device, [void_mutation(record_id, 2)])

    response = resolve(client, conflict_id, coordinator, "device")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "record_voided"
    assert conflict_id in open_conflict_ids(client, coordinator)  # the claim was rolled back too
    assert history(client, record_id, coordinator)["version"] == 3
    # Keeping the server value (the void) still works.
    assert resolve(client, conflict_id, coordinator, "server").status_code == 200


def test_unknown_and_out_of_scope_conflicts_are_404(client, session, device, coordinator, outsider) -> None:
    _, conflict_id = make_conflict(client, session, device)

    assert resolve(client, 999_999_999, coordinator).status_code == 404
    response = resolve(client, conflict_id, outsider)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert conflict_id in open_conflict_ids(client, coordinator)


@pytest.mark.parametrize(("body", "field"), [({"use": "both"}, "use"), ({}, "use"),
                                             ({"use": "server", "why": "x"}, "why")])
def test_a_bad_resolve_body_is_422_naming_the_field(client, session, device, coordinator, body, field) -> None:
    _, conflict_id = make_conflict(client, session, device)

    response = client.post(f"/api/v1/conflicts/{conflict_id}/resolve", json=body, headers=coordinator)

    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_resolving_needs_a_coordinator_and_a_json_body(client, session, device, coordinator) -> None:
    _, conflict_id = make_conflict(client, session, device)
    url = f"/api/v1/conflicts/{conflict_id}/resolve"

    assert client.post(url, json={"use": "server"}).status_code == 401
    assert client.post(url, json={"use": "server"}, headers=device.headers).status_code == 403
    worker = auth_headers(make_token(session, make_user(session, role="field_worker", team_id="ly-mmt-tripoli")))
    assert client.post(url, json={"use": "server"}, headers=worker).status_code == 403
    assert client.post(url, data="use=server", headers=coordinator).status_code == 415
    assert conflict_id in open_conflict_ids(client, coordinator)


# --- quarantine ----------------------------------------------------------------------------------


def discard(client: FlaskClient, row_id: int, headers: dict[str, str], reason: Any = "entered on the wrong tablet",
            ) -> Any:
    return client.post(f"/api/v1/quarantine/{row_id}/discard", json={"reason": reason}, headers=headers)


def apply(client: FlaskClient, row_id: int, headers: dict[str, str], mutation: Any) -> Any:
    return client.post(f"/api/v1/quarantine/{row_id}/apply", json={"mutation": mutation}, headers=headers)


def test_discarding_closes_the_row_with_its_reason(client, session, device, coordinator, coordinator_user) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    assert push(client, device, [bad])[0]["status"] == "rejected"
    row_id = quarantined_id(session, bad["op_id"])

    response = discard(client, row_id, coordinator)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["resolution"], body["note"], body["resolved_by"], body["result"]) == (
        "resolved", "discarded", "entered on the wrong tablet", coordinator_user.username, None)
    assert row_id not in open_quarantine_ids(client, coordinator)
    assert session.get(Record, bad["id"]) is None
    again = discard(client, row_id, coordinator)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_resolved"


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 501])
def test_a_discard_needs_a_reason(client, session, device, coordinator, reason) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    push(client, device, [bad])
    row_id = quarantined_id(session, bad["op_id"])

    response = discard(client, row_id, coordinator, reason)

    assert response.status_code == 422
    assert "reason" in response.get_json()["error"]["fields"]
    assert row_id in open_quarantine_ids(client, coordinator)


def test_applying_a_fixed_mutation_stores_the_record_as_its_device_and_closes_the_row(
    client, session, device, coordinator, coordinator_user
) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    push(client, device, [bad])
    row_id = quarantined_id(session, bad["op_id"])
    fixed = {**bad, "data": {**bad["data"], "sex": "f"}}
    rows_before = quarantine_count(session)

    response = apply(client, row_id, coordinator, fixed)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["resolution"], body["resolved_by"]) == ("resolved", "applied",
                                                                          coordinator_user.username)
    assert (body["result"]["status"], body["result"]["id"], body["result"]["version"]) == ("applied", bad["id"], 1)
    record = session.get(Record, bad["id"])
    assert record is not None and (record.device_id, record.team_id, record.data["sex"]) == (
        device.device.id, "ly-mmt-tripoli", "f")
    revision = session.scalars(select(RecordRevision).where(RecordRevision.record_id == bad["id"])).one()
    assert (revision.user_id, revision.device_id, revision.op_id) == (coordinator_user.id, device.device.id,
                                                                      bad["op_id"])
    assert row_id not in open_quarantine_ids(client, coordinator)
    assert quarantine_count(session) == rows_before
    # The op is now remembered: the tablet re-sending the fixed mutation gets "duplicate", not a second record.
    assert push(client, device, [fixed])[0]["status"] == "duplicate"


def test_a_fix_that_is_still_invalid_is_422_and_leaves_the_row_open(client, session, device, coordinator) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    push(client, device, [bad])
    row_id = quarantined_id(session, bad["op_id"])
    rows_before = quarantine_count(session)

    still_bad = {**bad, "data": {**bad["data"], "sex": "z", "site_id": "ly-dc-sabha"}}
    response = apply(client, row_id, coordinator, still_bad)

    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert "mutation.data.sex" in fields
    assert row_id in open_quarantine_ids(client, coordinator)
    assert quarantine_count(session) == rows_before  # the engine's rejection was not quarantined again
    assert session.get(Record, bad["id"]) is None


def test_a_revoked_devices_mutation_can_be_applied_as_that_device(client, session, coordinator) -> None:
    enrolled = make_device(session)
    session.commit()
    assert client.post(f"/api/v1/devices/{enrolled.device.id}/revoke", headers=coordinator).status_code == 200
    kept = create_mutation()
    push(client, enrolled, [kept], status=403)
    row = session.scalars(select(QuarantinedMutation).where(QuarantinedMutation.op_id == kept["op_id"])).one()
    assert row.reason == "device_revoked"

    response = apply(client, row.id, coordinator, row.mutation)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["result"]["status"] == "applied"
    record = session.get(Record, kept["id"])
    assert record is not None and record.device_id == enrolled.device.id


def test_a_stale_fixed_correction_is_409_with_the_current_values(client, session, device, coordinator) -> None:
    created = create_mutation()
    push(client, device, [created])
    push(client, device, [correct_mutation(created["id"], 1, {"sex": "m"})])
    bad = correct_mutation(created["id"], 1, {"sex": "q"})
    assert push(client, device, [bad])[0]["status"] == "rejected"
    row_id = quarantined_id(session, bad["op_id"])

    response = apply(client, row_id, coordinator, {**bad, "data": {"sex": "x"}})

    assert response.status_code == 409
    body = response.get_json()
    assert body["error"]["code"] == "edit_conflict"
    assert (body["current_version"], body["current"]) == (2, {"sex": "m"})
    assert "mutation.base_version" in body["error"]["fields"]
    assert row_id in open_quarantine_ids(client, coordinator)
    # With the base version the server asks for, it applies.
    fixed = {**bad, "base_version": 2, "data": {"sex": "x"}}
    assert apply(client, row_id, coordinator, fixed).status_code == 200
    assert history(client, created["id"], coordinator)["data"]["sex"] == "x"


def test_quarantine_resolution_is_scoped_and_404_for_unknown(client, session, device, coordinator, outsider) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    push(client, device, [bad])
    row_id = quarantined_id(session, bad["op_id"])

    assert discard(client, row_id, outsider).status_code == 404
    assert apply(client, row_id, outsider, bad).status_code == 404
    assert discard(client, 999_999_999, coordinator).status_code == 404
    assert apply(client, 999_999_999, coordinator, bad).status_code == 404
    assert row_id in open_quarantine_ids(client, coordinator)


def test_an_applied_row_cannot_be_applied_or_discarded_again(client, session, device, coordinator) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    push(client, device, [bad])
    row_id = quarantined_id(session, bad["op_id"])
    fixed = {**bad, "data": {**bad["data"], "sex": "m"}}
    assert apply(client, row_id, coordinator, fixed).status_code == 200

    for response in (apply(client, row_id, coordinator, {**fixed, "op_id": str(uuid.uuid4())}),
                     discard(client, row_id, coordinator)):
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "already_resolved"


@pytest.mark.parametrize("body", [{}, {"mutation": "junk"}, {"mutation": {}, "extra": 1}])
def test_a_bad_apply_body_is_422(client, session, device, coordinator, body) -> None:
    bad = create_mutation(data=consultation_data(sex="q"))
    push(client, device, [bad])
    row_id = quarantined_id(session, bad["op_id"])

    response = client.post(f"/api/v1/quarantine/{row_id}/apply", json=body, headers=coordinator)

    assert response.status_code == 422
    assert row_id in open_quarantine_ids(client, coordinator)


def test_the_resolution_routes_are_in_the_openapi_document(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/v1/conflicts/{conflict_id}/resolve", "/api/v1/quarantine/{quarantine_id}/discard",
            "/api/v1/quarantine/{quarantine_id}/apply"} <= set(paths)
