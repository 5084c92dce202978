"""Webhooks (issue 28, api.md v1.2): the API, the outbox written with the record, and delivery to a real
receiver on loopback that verifies every event with the `standardwebhooks` package."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import server.intake.envelope
from server.extensions import db
from server.integrations.webhooks import routing
from server.integrations.webhooks.worker import Worker
from server.models import AuditEntry, Record, Webhook, WebhookChange, WebhookEvent
from server.persistence.store import SqlRecordStore
from tests.factories import (
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
from tests.webhook_receiver import Receiver

HOOKS = "/api/v1/webhooks"
PUSH = "/api/v1/sync/push"
ALL_EVENTS = ["record.created", "record.corrected", "record.voided"]


def loopback_allowed(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers here listen on 127.0.0.1 over http, which production refuses."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOWED_HTTP_HOSTS", ("127.0.0.1",))


def coordinator(session: Session, countries: tuple[str, ...] = ("LY",), role: str = "coordinator") -> dict[str, str]:
    user = make_user(session, role=role, countries=countries if role != "admin" else ())
    headers = auth_headers(make_token(session, user))
    session.commit()
    return headers


def create_hook(client: FlaskClient, headers: dict[str, str], url: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(HOOKS, headers=headers,
                           json={"url": url, "countries": ["LY"], "events": ALL_EVENTS, **overrides})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def push(client: FlaskClient, device: Any, mutations: list[dict[str, Any]]) -> list[str]:
    body = push_body(mutations)
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == 200, response.get_json()
    return [result["status"] for result in response.get_json()["results"]]


def events_of(session: Session, hook_id: int) -> list[WebhookEvent]:
    """The webhook's queue once the worker has routed the committed changes to it."""
    routing.route(session, int(current_app.config["WEBHOOK_MAX_PENDING"]))
    session.expire_all()
    return list(session.scalars(select(WebhookEvent).where(WebhookEvent.webhook_id == hook_id)
                                .order_by(WebhookEvent.seq, WebhookEvent.id)))


# --- the API ------------------------------------------------------------------------------------
def test_a_coordinator_creates_lists_and_deletes_a_webhook_audited_and_the_secret_shown_once(
        app, client, session, monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    headers = coordinator(session)
    created = create_hook(client, headers, "http://127.0.0.1:9/hook", events=["record.created"])
    assert created["secret"].startswith("whsec_") and created["active"] is True
    assert created["countries"] == ["LY"] and created["events"] == ["record.created"]

    listed = client.get(HOOKS, headers=headers).get_json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0]

    assert client.delete(f"{HOOKS}/{created['id']}", headers=headers).status_code == 204
    assert client.get(HOOKS, headers=headers).get_json()["items"] == []
    entries = session.scalars(select(AuditEntry).where(AuditEntry.target_type == "webhook")
                              .order_by(AuditEntry.id)).all()
    assert [(entry.action, entry.target_id) for entry in entries] == [("create", str(created["id"])),
                                                                       ("delete", str(created["id"]))]
    assert all(created["secret"] not in str(entry.after) + str(entry.before) for entry in entries)


@pytest.mark.parametrize(("url", "allow_private"), [
    ("http://example.org/hook", True),  # plain http to a host the operator did not allow
    ("ftp://example.org/hook", True),
    ("https://127.0.0.1/hook", False),  # loopback
    ("https://10.1.2.3/hook", False),  # private
    ("https://169.254.169.254/latest/meta-data", False),  # link-local: the cloud metadata service
    ("https://[::1]/hook", False),
    ("https://[::ffff:192.168.0.1]/hook", False),  # a private IPv4 address written as IPv6
    ("https://localhost/hook", False),
    ("https://exa\x00mple.org/hook", True),  # PostgreSQL refuses NUL: a 422, not a 500
])
def test_unsafe_urls_are_refused_at_creation_naming_url(app, client, session, monkeypatch, url, allow_private) -> None:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", allow_private)
    response = client.post(HOOKS, headers=coordinator(session),
                           json={"url": url, "countries": ["LY"], "events": ALL_EVENTS})
    assert response.status_code == 422
    assert "url" in response.get_json()["error"]["fields"]


def test_scope_and_bad_fields(app, client, session, monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    make_team(session)  # Tunisia
    ly = coordinator(session)
    admin = coordinator(session, role="admin")
    body = {"url": "http://127.0.0.1:9/hook", "countries": ["TN"], "events": ALL_EVENTS}
    assert client.post(HOOKS, headers=ly, json=body).status_code == 403
    tunisian = client.post(HOOKS, headers=admin, json=body).get_json()
    # A coordinator of Libya neither sees nor deletes Tunisia's webhook.
    assert client.get(HOOKS, headers=ly).get_json()["items"] == []
    assert client.delete(f"{HOOKS}/{tunisian['id']}", headers=ly).status_code == 404
    bad = client.post(HOOKS, headers=ly, json={"url": "http://127.0.0.1:9/", "countries": ["LY"],
                                               "events": ["record.deleted"]})
    assert bad.status_code == 422 and "events.0" in bad.get_json()["error"]["fields"]
    assert client.post(HOOKS, headers=ly, json={**body, "countries": ["XX"]}).status_code == 403
    missing = client.post(HOOKS, headers=admin, json={**body, "countries": ["XX"]})
    assert missing.status_code == 422 and "countries" in missing.get_json()["error"]["fields"]
    assert client.post(HOOKS, headers=ly, data="url=x").status_code == 415


# --- the outbox ---------------------------------------------------------------------------------
def test_each_applied_change_writes_one_event_with_the_record_and_a_duplicate_writes_none(
        app, client, session, device, monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    headers = coordinator(session)
    hook = create_hook(client, headers, "http://127.0.0.1:9/hook")
    only_voids = create_hook(client, headers, "http://127.0.0.1:9/voids", events=["record.voided"])
    created = create_mutation()
    record_id = created["id"]
    assert push(client, device, [created]) == ["applied"]
    assert push(client, device, [created]) == ["duplicate"]  # the same op again: nothing changes
    assert push(client, device, [correct_mutation(record_id, 1, {"sex": "m"}),
                                 void_mutation(record_id, 2)]) == ["applied", "applied"]

    events = events_of(session, hook["id"])
    assert [(e.type, e.record_id, e.version, e.status) for e in events] == [
        ("record.created", record_id, 1, "pending"), ("record.corrected", record_id, 2, "pending"),
        ("record.voided", record_id, 3, "pending")]
    assert [e.type for e in events_of(session, only_voids["id"])] == ["record.voided"]
    # The body's data is the record as the line list shows it, at that version.
    import json

    from server.operations.linelist import COLUMNS
    bodies = [json.loads(e.payload) for e in events]
    assert list(bodies[0]["data"]) == list(COLUMNS)
    assert [(b["data"]["version"], b["data"]["sex"], b["data"]["status"]) for b in bodies] == [
        (1, "f", "active"), (2, "m", "active"), (3, "m", "voided")]
    listed = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=headers).get_json()["items"]
    assert [(item["type"], item["status"], item["attempts"]) for item in listed][0] == ("record.voided", "pending", 0)


def test_a_batch_that_rolls_back_writes_no_event_and_its_rerun_writes_each_once(
        app, client, session, device, monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    hook = create_hook(client, coordinator(session), "http://127.0.0.1:9/hook")
    monkeypatch.setattr(server.intake.envelope.time, "sleep", lambda seconds: None)
    original = SqlRecordStore.insert_record
    calls: list[int] = []

    def insert_record(self: SqlRecordStore, record: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the first attempt fails after a record was staged, then is rerun
            from sqlalchemy.exc import OperationalError
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        original(self, record)

    monkeypatch.setattr(SqlRecordStore, "insert_record", insert_record)
    mutations = [create_mutation(), create_mutation()]
    assert push(client, device, mutations) == ["applied", "applied"]
    assert sorted(e.record_id for e in events_of(session, hook["id"])) == sorted(m["id"] for m in mutations)


def test_another_countrys_records_and_a_paused_webhook_write_no_event(app, client, session, device,
                                                                       monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    make_team(session)
    admin = coordinator(session, role="admin")
    tunisia = create_hook(client, admin, "http://127.0.0.1:9/tn", countries=["TN"])
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_PENDING", 2)
    bounded = create_hook(client, admin, "http://127.0.0.1:9/ly")
    assert push(client, device, [create_mutation() for _ in range(3)]) == ["applied"] * 3
    assert events_of(session, tunisia["id"]) == []
    # The bound: two pending, the third change pauses the webhook and is counted, not queued.
    assert len(events_of(session, bounded["id"])) == 2
    hook = session.get(Webhook, bounded["id"])
    assert (hook.active, hook.dropped) == (False, 1)
    push(client, device, [create_mutation()])
    assert len(events_of(session, bounded["id"])) == 2
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'fieldsync_webhook_events{status="pending"} 2.0' in metrics
    assert "fieldsync_webhook_events_dropped 2.0" in metrics


def test_ten_webhooks_cost_a_push_one_outbox_row_per_change_routed_to_each_once(
        app, client, session, device, monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    headers = coordinator(session)
    hooks = [create_hook(client, headers, f"http://127.0.0.1:9/hook{n}") for n in range(10)]
    mutations = [create_mutation() for _ in range(3)]
    assert push(client, device, mutations) == ["applied"] * 3
    # Written with the records: one row per change, whatever the number of webhooks.
    outbox = session.execute(select(WebhookChange.record_id, WebhookChange.type)).all()
    assert sorted(outbox) == sorted((m["id"], "record.created") for m in mutations)
    assert "fieldsync_webhook_outbox_changes 3.0" in client.get("/metrics").get_data(as_text=True)
    # A routing that fails half-way leaves every change in the outbox for the next one.
    original = routing._pending_counts

    def failing(*args: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(routing, "_pending_counts", failing)
    with pytest.raises(RuntimeError):
        routing.route(session, 100)
    session.rollback()
    monkeypatch.setattr(routing, "_pending_counts", original)
    assert session.scalar(select(func.count()).select_from(WebhookChange)) == 3
    for hook in hooks:
        assert sorted(e.record_id for e in events_of(session, hook["id"])) == sorted(m["id"] for m in mutations)
    assert session.scalar(select(func.count()).select_from(WebhookChange)) == 0
    assert "fieldsync_webhook_outbox_changes 0.0" in client.get("/metrics").get_data(as_text=True)
    # Routed once: routing again queues nothing more.
    assert len(events_of(session, hooks[0]["id"])) == 3


def test_ten_webhooks_cost_a_push_the_statements_of_one_and_one_more_than_none(app, client, session, device,
                                                                               monkeypatch) -> None:
    # Deterministic where timings are not (bench/webhooks.py measures the rates): the outbox is one
    # INSERT per batch whatever the number of webhooks, and nothing at all without one.
    from tests.server.intake.test_push_statements import statements

    loopback_allowed(app, monkeypatch)
    headers = coordinator(session)

    def counted() -> int:
        mutations = [create_mutation() for _ in range(20)]
        body = push_body(mutations)
        with statements() as seen:
            assert client.post(PUSH, json=body, headers=push_headers(device, body)).status_code == 200
        return len([statement for statement in seen if "SAVEPOINT" not in statement])

    counted()  # warm: the reference snapshot
    none = counted()
    create_hook(client, headers, "http://127.0.0.1:9/first")
    counted()  # the snapshot renews: a webhook changed it
    one = counted()
    for n in range(9):
        create_hook(client, headers, f"http://127.0.0.1:9/more{n}")
    counted()
    ten = counted()
    assert (one - none, ten - one) == (1, 0)


def test_a_push_with_no_webhook_wanting_its_changes_writes_no_outbox_row(app, client, session, device,
                                                                          monkeypatch) -> None:
    loopback_allowed(app, monkeypatch)
    headers = coordinator(session)
    assert push(client, device, [create_mutation()]) == ["applied"]
    create_hook(client, headers, "http://127.0.0.1:9/voids", events=["record.voided"])
    assert push(client, device, [create_mutation()]) == ["applied"]
    assert session.scalar(select(func.count()).select_from(WebhookChange)) == 0
    # A webhook made now learns of the next change without a restart: the cached routes renew.
    create_hook(client, headers, "http://127.0.0.1:9/all")
    assert push(client, device, [create_mutation()]) == ["applied"]
    assert session.scalar(select(func.count()).select_from(WebhookChange)) == 1


# --- delivery to a real receiver ---------------------------------------------------------------
def setup_delivery(app: Flask, monkeypatch: pytest.MonkeyPatch, receiver: Receiver,
                   events: list[str] | None = None) -> tuple[FlaskClient, Any, dict[str, str], int]:
    loopback_allowed(app, monkeypatch)
    for name, value in {"WEBHOOK_TIMEOUT_SECONDS": 1.0, "WEBHOOK_RETRY_BASE_SECONDS": 0.2,
                        "WEBHOOK_RETRY_MAX_WAIT_SECONDS": 0.4, "WEBHOOK_LEASE_SECONDS": 5.0}.items():
        monkeypatch.setitem(app.config, name, value)
    client = app.test_client()
    with app.app_context():
        session = db.session()
        device = make_device(session)
        headers = coordinator(session)
        hook = create_hook(client, headers, receiver.url, events=events or ALL_EVENTS)
        db.session.remove()
    receiver.secret = hook["secret"]
    return client, device, headers, hook["id"]


def drain(app: Flask, until: float = 10.0) -> None:
    """Run the worker until nothing is pending (or `until` seconds)."""
    worker = Worker(app, threads=2)
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        worker.run_once()
        with app.app_context():
            left = db.session.scalar(select(func.count()).select_from(WebhookEvent)
                                     .where(WebhookEvent.status == "pending"))
            db.session.remove()
        if not left:
            return
        time.sleep(0.05)


def test_every_change_arrives_signed_in_seq_order_and_is_marked_delivered(committed_app, monkeypatch) -> None:
    with Receiver() as receiver:
        client, device, headers, hook_id = setup_delivery(committed_app, monkeypatch, receiver)
        first, second = create_mutation(), create_mutation("distribution")
        push(client, device, [first, second])
        push(client, device, [correct_mutation(first["id"], 1, {"referral": True}), void_mutation(second["id"], 1,
                                                                                                 entity="distribution")])
        drain(committed_app)
        assert receiver.rejected == []
        assert [(d.body["type"], d.body["data"]["id"], d.body["data"]["version"]) for d in receiver.accepted] == [
            ("record.created", first["id"], 1), ("record.created", second["id"], 1),
            ("record.corrected", first["id"], 2), ("record.voided", second["id"], 2)]
        seqs = [d.body["data"]["seq"] for d in receiver.accepted]
        assert seqs == sorted(seqs)
        items = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers).get_json()["items"]
        assert {(item["status"], item["attempts"], item["last_status_code"]) for item in items} == {
            ("delivered", 1, 204)}
        assert [item["id"] for item in reversed(items)] == [d.event_id for d in receiver.accepted]


def test_500_then_200_is_retried_with_the_same_id_and_events_behind_it_wait(committed_app, monkeypatch) -> None:
    answers = {1: 500, 2: 503}
    with Receiver(behaviour=lambda attempt: answers.get(attempt, 204)) as receiver:
        client, device, headers, hook_id = setup_delivery(committed_app, monkeypatch, receiver)
        mutations = [create_mutation(), create_mutation()]
        push(client, device, mutations)
        drain(committed_app)
        assert receiver.attempts == 4  # two failures of the first, then both delivered
        assert [d.body["data"]["id"] for d in receiver.accepted] == [m["id"] for m in mutations]
        items = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers).get_json()["items"]
        assert [(item["status"], item["attempts"]) for item in reversed(items)] == [("delivered", 3),
                                                                                    ("delivered", 1)]


@pytest.mark.parametrize("answer", [("redirect", "http://127.0.0.1:9/elsewhere"), ("slow", 1.6), 500],
                         ids=["redirect", "slow", "error"])
def test_redirects_slow_answers_and_errors_are_failed_after_the_window_and_retry_sends_again(
        committed_app, monkeypatch, answer) -> None:
    failing = [True]
    with Receiver(behaviour=lambda attempt: answer if failing[0] else 204) as receiver:
        client, device, headers, hook_id = setup_delivery(committed_app, monkeypatch, receiver)
        monkeypatch.setitem(committed_app.config, "WEBHOOK_RETRY_WINDOW_SECONDS", 1.0)
        push(client, device, [create_mutation()])
        drain(committed_app, until=6)
        (item,) = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers).get_json()["items"]
        assert item["status"] == "failed" and item["attempts"] >= 2 and receiver.accepted == []
        assert item["last_status_code"] == {"redirect": 307, "slow": None, "error": 500}[
            answer[0] if isinstance(answer, tuple) else "error"]
        failing[0] = False
        retried = client.post(f"{HOOKS}/{hook_id}/deliveries/{item['id']}/retry", headers=headers)
        assert retried.status_code == 202
        drain(committed_app)
        assert [d.event_id for d in receiver.accepted] == [item["id"]]
        again = client.post(f"{HOOKS}/{hook_id}/deliveries/{item['id']}/retry", headers=headers)
        assert again.status_code == 409


def test_a_failing_receiver_never_delays_another_webhook(committed_app, monkeypatch) -> None:
    with Receiver(behaviour=lambda attempt: ("slow", 3)) as slow, Receiver() as quick:
        client, device, headers, _ = setup_delivery(committed_app, monkeypatch, slow)
        monkeypatch.setitem(committed_app.config, "WEBHOOK_TIMEOUT_SECONDS", 3.0)
        quick.secret = create_hook(client, headers, quick.url)["secret"]
        worker = Worker(committed_app, threads=4)
        import threading

        runner = threading.Thread(target=worker.run, daemon=True)
        runner.start()
        try:
            started = time.monotonic()
            for _ in range(3):
                push(client, device, [create_mutation()])
            assert quick.wait_for(lambda r: len(r.accepted) == 3, timeout=10)
            assert time.monotonic() - started < 2.5  # not behind the slow one's 3 s attempts
        finally:
            worker.stopping.set()
            runner.join(timeout=10)


def test_a_receiver_down_for_a_while_gets_everything_when_back(committed_app, monkeypatch) -> None:
    receiver = Receiver()
    client, device, headers, hook_id = setup_delivery(committed_app, monkeypatch, receiver)
    receiver.stop()  # down: connections refused
    mutations = [create_mutation() for _ in range(3)]
    push(client, device, mutations)
    Worker(committed_app).run_once()
    items = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers).get_json()["items"]
    # One probe while it is down, not one per event.
    assert sorted(item["attempts"] for item in items) == [0, 0, 1]
    receiver.restart()
    try:
        drain(committed_app)
        assert [d.body["data"]["id"] for d in receiver.accepted] == [m["id"] for m in mutations]
    finally:
        receiver.stop()


def test_the_record_body_never_shows_more_than_the_line_list(committed_app, monkeypatch) -> None:
    with Receiver() as receiver:
        client, device, headers, _ = setup_delivery(committed_app, monkeypatch, receiver)
        push(client, device, [create_mutation(data=consultation_data(beneficiary_ref="P-123"))])
        drain(committed_app)
        (delivery,) = receiver.accepted
        listed = client.get("/api/v1/records?format=jsonl", headers=headers).get_data(as_text=True)
        import json
        (row,) = [json.loads(line) for line in listed.splitlines()]
        assert delivery.body["data"] == row
        with committed_app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Record)) == 1
            db.session.remove()


def test_the_address_is_checked_again_at_delivery(committed_app, monkeypatch) -> None:
    """A receiver accepted at creation whose address is refused by the time of delivery (a name re-pointed
    at an inside address, DNS rebinding; here the operator withdrew WEBHOOK_ALLOW_PRIVATE) gets nothing."""
    with Receiver() as receiver:
        client, device, headers, hook_id = setup_delivery(committed_app, monkeypatch, receiver)
        monkeypatch.setitem(committed_app.config, "WEBHOOK_ALLOW_PRIVATE", False)
        push(client, device, [create_mutation()])
        Worker(committed_app).run_once()
        assert receiver.attempts == 0
        (item,) = client.get(f"{HOOKS}/{hook_id}/deliveries", headers=headers).get_json()["items"]
        assert item["status"] == "pending" and item["attempts"] == 1
        assert "loopback, private or link-local" in item["last_error"]
