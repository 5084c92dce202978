"""`GET /api/v1/sync/pull?stream=quarantine` (api.md v1.2, issue 30 §4): a device learns which of
the mutations it sent wait in quarantine, why, and what a coordinator did with them, with the
cursor rules of the other streams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from server.extensions import db
from server.operations.quarantine_stream import quarantine_page
from server.persistence.migrations_state import alembic_config
from tests.conftest import seeded_app
from tests.factories import (
    auth_headers,
    consultation_data,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
)
from tests.server.operations.test_pull import get_page, pull_all


def _push(client: FlaskClient, device: Any, mutations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = push_body(mutations)
    answer = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["results"]


def _bad(sex: str = "q") -> dict[str, Any]:
    return create_mutation(data=consultation_data(sex=sex))


def test_a_device_pulls_its_quarantined_mutations_and_then_their_fate(client, session: Session) -> None:
    tablet = make_device(session)
    other = make_device(session)
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()
    first, second, good = _bad(), _bad("zz"), create_mutation()
    _push(client, tablet, [first, second, good])
    _push(client, other, [_bad()])  # another tablet's: never in this one's stream

    changes, cursor = pull_all(client, tablet.headers, "quarantine")

    assert [c["data"]["op_id"] for c in changes] == [first["op_id"], second["op_id"]]
    item = changes[0]
    assert item["entity"] == "quarantined_mutation" and item["op"] == "upsert"
    assert item["data"]["state"] == "open" and item["data"]["reason"] == "rejected"
    assert item["data"]["errors"] == {"data.sex": ["Must be one of: f, m, x."]}
    assert (item["data"]["kind"], item["data"]["entity"], item["data"]["record_id"]) == (
        "create", "consultation", first["id"])
    assert item["data"]["mutation"]["data"]["sex"] == "q"  # what was sent, to show the field worker
    assert item["data"]["received_at"].endswith("Z") and item["data"]["resolved_at"] is None
    assert get_page(client, tablet.headers, "quarantine", cursor)["changes"] == []

    # A coordinator fixes the first and discards the second: each comes back once, at its new state.
    fixed = {**first, "data": {**first["data"], "sex": "f"}}
    assert client.post(f"/api/v1/quarantine/{item['id']}/apply", json={"mutation": fixed},
                       headers=coordinator).status_code == 200
    assert client.post(f"/api/v1/quarantine/{changes[1]['id']}/discard", json={"reason": "entered twice"},
                       headers=coordinator).status_code == 200

    later, _ = pull_all(client, tablet.headers, "quarantine", cursor)

    assert [(c["id"], c["data"]["state"]) for c in later] == [(item["id"], "applied"), (changes[1]["id"], "discarded")]
    assert later[1]["data"]["note"] == "entered twice" and later[1]["data"]["resolved_at"].endswith("Z")
    assert all(c["seq"] > changes[-1]["seq"] for c in later)
    fresh, _ = pull_all(client, tablet.headers, "quarantine")  # from scratch: each once, latest state
    assert [c["data"]["state"] for c in fresh] == ["applied", "discarded"]


def test_quarantine_pages_follow_the_cursor_rules(client, session: Session) -> None:
    tablet = make_device(session)
    session.commit()
    sent = [_bad() for _ in range(5)]
    _push(client, tablet, sent)

    page = get_page(client, tablet.headers, "quarantine", limit=2)
    assert len(page["changes"]) == 2 and page["has_more"] is True
    rest, _ = pull_all(client, tablet.headers, "quarantine", page["next_cursor"], limit=2)
    assert [c["data"]["op_id"] for c in page["changes"] + rest] == [m["op_id"] for m in sent]
    # A cursor of another stream is not one of this stream's: 410, as between records and reference.
    records_cursor = get_page(client, tablet.headers, "records")["next_cursor"]
    wrong = client.get("/api/v1/sync/pull", query_string={"stream": "quarantine", "cursor": records_cursor},
                       headers=tablet.headers)
    assert wrong.status_code == 410 and wrong.get_json()["error"]["code"] == "reset_required"


def test_coordinators_cannot_pull_a_devices_stream(client, session: Session) -> None:
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()
    assert client.get("/api/v1/sync/pull?stream=quarantine", headers=coordinator).status_code == 403


def test_the_migration_gives_rows_already_kept_a_seq_each(make_database_url, engine_name: str) -> None:
    # Quarantine rows kept before migration 0014 had no seq: the upgrade gives each one, in id order,
    # above every seq handed out, so a tablet's first pull of the stream lists them too.
    url = make_database_url(engine_name)
    app = seeded_app(url)
    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.downgrade(cfg, "0011")
    engine = create_engine(url)
    with engine.begin() as connection:
        before = connection.execute(text("SELECT value FROM seq_counter WHERE name = 'global'")).scalar_one()
        for op_id in ("first", "second"):
            connection.execute(text("INSERT INTO quarantine (device_id, reason, mutation, errors, status, created_at, "
                                    "op_id) VALUES ('old-tablet', 'rejected', '{}', '{}', 'open', :at, :op)"),
                               {"at": datetime(2026, 1, 1), "op": op_id})
    try:
        # Up to 0014 only: on PostgreSQL a later migration (0016) makes the counter the base of
        # transaction-id seqs, no longer the last seq handed out.
        command.upgrade(cfg, "0014")
        with engine.connect() as connection:
            seqs = connection.execute(text("SELECT op_id, seq FROM quarantine ORDER BY id")).all()
            after = connection.execute(text("SELECT value FROM seq_counter WHERE name = 'global'")).scalar_one()
        assert [op for op, _ in seqs] == ["first", "second"]
        assert before < seqs[0][1] < seqs[1][1] <= after
        command.upgrade(cfg, "head")
        with app.app_context():
            page = quarantine_page(db.session, device_id="old-tablet", after_seq=0, limit=10)
            assert [c["data"]["op_id"] for c in page.changes] == ["first", "second"]
            db.session.remove()
    finally:
        engine.dispose()
        with app.app_context():
            db.engine.dispose()
