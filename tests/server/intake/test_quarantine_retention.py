"""What quarantine keeps and for how long (server/intake/quarantine.py): a revoked device's bounded sample
and its dropped count, redaction of unknown fields once an item is resolved, and the retention purge.
Everything goes through the real push, review and resolution endpoints and the real CLI; both engines.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.extensions import db
from server.intake import quarantine
from server.intake.quarantine import REDACTED, redact_unknown
from server.models import Device, QuarantinedMutation, SyncBatch
from server.persistence.timeutil import utcnow
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    consultation_data,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
)

PUSH = "/api/v1/sync/push"


@pytest.fixture
def coordinator(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[Any]) -> Any:
    body = push_body(mutations)
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    g.pop("principal", None)  # the test client shares the app context between requests
    return response


def kept(session: Session, device_id: str) -> int:
    return session.scalar(select(func.count(QuarantinedMutation.id))
                          .where(QuarantinedMutation.device_id == device_id)) or 0


# --- a revoked device's bounded sample ---------------------------------------------------------------


def test_a_revoked_device_keeps_a_bounded_sample_and_a_count_of_the_rest(app: Flask, client, session,
                                                                         coordinator, monkeypatch) -> None:
    limits = dataclasses.replace(app.config["FIELDSYNC_LIMITS"], revoked_quarantine_max=5)
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", limits)
    stolen = make_device(session, revoked=True)
    session.commit()

    answers = [push(client, stolen, [create_mutation() for _ in range(4)]) for _ in range(3)]

    # Every push still hears "wipe", whatever was kept.
    assert [(a.status_code, a.get_json()["error"]["code"], a.get_json()["wipe"]) for a in answers] == [
        (403, "device_revoked", True)] * 3
    assert kept(session, stolen.device.id) == 5  # the first five
    session.expire_all()
    assert session.get(Device, stolen.device.id).quarantine_dropped == 12 - 5
    # A push past the bound stores no batch row either: a flood of new batch ids leaves only the count.
    assert session.scalar(select(func.count()).select_from(SyncBatch)
                          .where(SyncBatch.device_id == stolen.device.id)) == 2
    listed = client.get("/api/v1/devices", headers=coordinator).get_json()["items"]
    assert next(d for d in listed if d["id"] == stolen.device.id)["quarantine_dropped"] == 7


def test_the_default_bound_keeps_one_full_batch_of_a_tablet_revoked_by_mistake(app: Flask, client, session) -> None:
    maximum = app.config["FIELDSYNC_LIMITS"].revoked_quarantine_max
    assert maximum == app.config["FIELDSYNC_LIMITS"].push_max_mutations == 500
    revoked = make_device(session, revoked=True)
    session.commit()
    assert push(client, revoked, [create_mutation() for _ in range(maximum)]).status_code == 403
    assert push(client, revoked, [create_mutation()]).status_code == 403
    assert kept(session, revoked.device.id) == maximum
    session.expire_all()
    assert session.get(Device, revoked.device.id).quarantine_dropped == 1


def test_an_active_device_is_not_bounded(client, session) -> None:
    device = make_device(session)
    session.commit()
    bad = [create_mutation(data=consultation_data(sex="q")) for _ in range(3)]
    assert {r["status"] for r in push(client, device, bad).get_json()["results"]} == {"rejected"}
    assert kept(session, device.device.id) == 3


# --- redaction ---------------------------------------------------------------------------------------


def named(**extra: Any) -> dict[str, Any]:
    """A consultation carrying a field the server does not know, holding a name."""
    return create_mutation(data=consultation_data(patient_name="Amina Example", **extra))


def quarantined(client: FlaskClient, session: Session, device: EnrolledDevice, mutation: dict[str, Any]) -> int:
    assert push(client, device, [mutation]).get_json()["results"][0]["status"] == "rejected"
    return session.scalar(select(QuarantinedMutation.id).where(QuarantinedMutation.op_id == mutation["op_id"]))


def stored(session: Session, row_id: int) -> Any:
    session.expire_all()
    return session.get(QuarantinedMutation, row_id).mutation


def test_a_discarded_item_keeps_no_value_of_an_unknown_field(client, session, coordinator) -> None:
    device = make_device(session)
    session.commit()
    mutation = named()
    row_id = quarantined(client, session, device, mutation)
    # While open, the coordinator sees it as sent: that is how they know what to fix.
    assert stored(session, row_id)["data"]["patient_name"] == "Amina Example"

    response = client.post(f"/api/v1/quarantine/{row_id}/discard", json={"reason": "has a name"}, headers=coordinator)

    assert response.status_code == 200
    assert response.get_json()["mutation"]["data"]["patient_name"] == REDACTED
    kept_mutation = stored(session, row_id)
    assert kept_mutation["data"]["patient_name"] == REDACTED
    assert "Amina" not in str(kept_mutation)
    # Known fields stay, so what happened remains reviewable.
    assert {k: v for k, v in kept_mutation["data"].items() if k != "patient_name"} == {
        k: v for k, v in mutation["data"].items() if k != "patient_name"}
    assert kept_mutation["op_id"] == mutation["op_id"]


def test_an_applied_item_keeps_no_value_of_an_unknown_field(client, session, coordinator) -> None:
    device = make_device(session)
    session.commit()
    mutation = named()
    row_id = quarantined(client, session, device, mutation)
    fixed = {**mutation, "data": {k: v for k, v in mutation["data"].items() if k != "patient_name"}}

    response = client.post(f"/api/v1/quarantine/{row_id}/apply", json={"mutation": fixed}, headers=coordinator)

    assert response.status_code == 200, response.get_json()
    assert stored(session, row_id)["data"]["patient_name"] == REDACTED


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ("Amina", REDACTED),
        (["Amina"], REDACTED),
        ({"op_id": "x", "entity": "consultation", "data": "Amina", "note": "Amina"},
         {"op_id": "x", "entity": "consultation", "data": REDACTED, "note": REDACTED}),
        ({"entity": "patient", "data": {"sex": "f", "name": "Amina"}},
         {"entity": "patient", "data": {"sex": REDACTED, "name": REDACTED}}),
        ({"entity": ["consultation"], "data": {"sex": "f"}}, {"entity": ["consultation"], "data": {"sex": REDACTED}}),
        ({"entity": "outreach", "data": {"topic": "hygiene", "reached": {"f": {"18-59": 2}}, "who": "Amina"}},
         {"entity": "outreach", "data": {"topic": "hygiene", "reached": {"f": {"18-59": 2}}, "who": REDACTED}}),
    ],
)
def test_redaction_rules(mutation: Any, expected: Any) -> None:
    assert redact_unknown(mutation) == expected


# --- retention -----------------------------------------------------------------------------------------


def test_purge_deletes_items_past_the_retention_period_and_redacts_resolved_ones(app: Flask, client, session) -> None:
    device = make_device(session)
    session.commit()
    old_open = quarantined(client, session, device, named())
    old_resolved = quarantined(client, session, device, named())
    recent_open = quarantined(client, session, device, named())
    recent_resolved = quarantined(client, session, device, named())
    now = utcnow()
    session.execute(update(QuarantinedMutation).where(QuarantinedMutation.id.in_([old_open, old_resolved]))
                    .values(created_at=now - timedelta(days=91)))
    # Resolved before redaction existed: still holding the name.
    session.execute(update(QuarantinedMutation).where(QuarantinedMutation.id.in_([old_resolved, recent_resolved]))
                    .values(status="resolved", resolution="discarded"))
    session.flush()

    result = app.test_cli_runner().invoke(args=["quarantine", "purge"])

    assert result.exit_code == 0, result.output
    assert "2 item(s) older than 90 days deleted, 1 resolved item(s) redacted" in result.output
    session.expire_all()
    remaining = {row.id: row for row in session.scalars(select(QuarantinedMutation)
                                                        .where(QuarantinedMutation.device_id == device.device.id))}
    assert set(remaining) == {recent_open, recent_resolved}
    assert remaining[recent_open].mutation["data"]["patient_name"] == "Amina Example"  # open: still to review
    assert remaining[recent_resolved].mutation["data"]["patient_name"] == REDACTED
    # Idempotent.
    again = app.test_cli_runner().invoke(args=["quarantine", "purge"])
    assert "0 item(s) older than 90 days deleted, 0 resolved item(s) redacted" in again.output


def test_the_retention_period_comes_from_the_environment_or_the_option(app: Flask, client, session,
                                                                        monkeypatch) -> None:
    device = make_device(session)
    session.commit()
    row_id = quarantined(client, session, device, named())
    session.execute(update(QuarantinedMutation).where(QuarantinedMutation.id == row_id)
                    .values(created_at=utcnow() - timedelta(days=10)))
    session.flush()
    monkeypatch.setitem(app.config, "QUARANTINE_RETENTION_DAYS", 30)
    assert "0 item(s) older than 30 days" in app.test_cli_runner().invoke(args=["quarantine", "purge"]).output
    result = app.test_cli_runner().invoke(args=["quarantine", "purge", "--older-than-days", "7"])
    assert "1 item(s) older than 7 days" in result.output
    assert app.test_cli_runner().invoke(args=["quarantine", "purge", "--older-than-days", "-1"]).exit_code == 2


def test_retention_days_are_read_from_the_environment() -> None:
    from config import load_config

    assert load_config({})["QUARANTINE_RETENTION_DAYS"] == 90
    assert load_config({"QUARANTINE_RETENTION_DAYS": "30"})["QUARANTINE_RETENTION_DAYS"] == 30
    assert load_config({"REVOKED_QUARANTINE_MAX": "20"})["FIELDSYNC_LIMITS"].revoked_quarantine_max == 20


def test_racing_pushes_of_a_revoked_device_cannot_exceed_the_bound(committed_app: Flask) -> None:
    limits = dataclasses.replace(committed_app.config["FIELDSYNC_LIMITS"], revoked_quarantine_max=6)
    committed_app.config["FIELDSYNC_LIMITS"] = limits
    with committed_app.app_context():
        stolen = make_device(db.session, revoked=True)
        device_id = stolen.device.id
        db.session.commit()
        db.session.remove()
    racers = quarantine.REVOKED_PUSHES.free  # pushes past it are refused unread (tested below)
    barrier = threading.Barrier(racers)
    statuses: list[int] = []

    def attempt() -> None:
        client = committed_app.test_client()
        body = push_body([create_mutation() for _ in range(4)])
        barrier.wait()
        statuses.append(client.post(PUSH, json=body, headers=push_headers(stolen, body)).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert statuses == [403] * racers
    with committed_app.app_context():
        assert kept(db.session, device_id) == 6
        assert db.session.get(Device, device_id).quarantine_dropped == 4 * racers - 6
        db.session.remove()


def test_a_revoked_device_is_rate_limited_before_its_body_is_read(app: Flask, client, session, monkeypatch) -> None:
    limits = dataclasses.replace(app.config["FIELDSYNC_LIMITS"], revoked_quarantine_max=5)
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", limits)
    stolen = make_device(session, revoked=True)
    session.commit()
    for _ in range(quarantine.REVOKED_PUSHES.free):  # read, kept up to the bound, counted
        assert push(client, stolen, [create_mutation() for _ in range(4)]).status_code == 403
    session.expire_all()
    assert session.get(Device, stolen.device.id).quarantine_dropped == 12 - 5

    # Then, within the back-off, it hears 403 + wipe at once: its body is not even read or counted.
    flood = push(client, stolen, [create_mutation() for _ in range(4)])
    garbage = client.post("/api/v1/sync/push", data=b"{not json", headers={**stolen.headers,
                                                                          "Content-Type": "application/json"})
    for answer in (flood, garbage):
        assert (answer.status_code, answer.get_json()["error"]["code"], answer.get_json()["wipe"]) == (
            403, "device_revoked", True)
    session.expire_all()
    assert session.get(Device, stolen.device.id).quarantine_dropped == 12 - 5
    assert kept(session, stolen.device.id) == 5

    # After the back-off one more push is read (and counted), then the wait doubles.
    later = utcnow() + quarantine.REVOKED_PUSHES.base + timedelta(seconds=1)
    assert quarantine.revoked_push_throttled(session, stolen.device.id, later) is False
    assert quarantine.revoked_push_throttled(session, stolen.device.id, later) is True
