"""GET /api/v1/sync/pull: both streams, paging, scope, cursor validity and parameter errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config import Limits
from server.models import Record
from server.operations import pull as pull_module
from server.persistence.seq import current_seq, next_seq
from sync.cursor import Cursor, decode_cursor, encode_cursor
from sync.domain import IMMUTABLE_FIELDS
from tests.factories import make_device, make_record

KEY = b"test-secret-key"


def get_page(client: FlaskClient, headers: dict[str, str], stream: str = "records", cursor: str | None = None,
             limit: int | None = None) -> dict[str, Any]:
    query: dict[str, Any] = {"stream": stream}
    if cursor is not None:
        query["cursor"] = cursor
    if limit is not None:
        query["limit"] = limit
    response = client.get("/api/v1/sync/pull", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pull_all(client: FlaskClient, headers: dict[str, str], stream: str = "records", cursor: str | None = None,
             limit: int = 500) -> tuple[list[dict[str, Any]], str]:
    changes: list[dict[str, Any]] = []
    while True:
        page = get_page(client, headers, stream, cursor, limit)
        changes += page["changes"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return changes, cursor


def correct(session: Session, record: Record, **data: Any) -> None:
    """What a correction does to the stored row: new version, new seq."""
    record.data = {**record.data, **data}
    record.version += 1
    record.seq = next_seq(session)
    session.flush()


# --- records ---------------------------------------------------------------------------------


def test_records_of_the_team_in_seq_order_with_all_fields(client: FlaskClient, session: Session) -> None:
    device = make_device(session, team_id="ly-mmt-tripoli")
    mine = [make_record(session) for _ in range(3)]
    make_record(session, team_id="ly-chw-tripoli", site_id="ly-cdc-tripoli-1")  # another team's

    page = get_page(client, device.headers)

    assert page["stream"] == "records"
    assert page["has_more"] is False
    assert [c["id"] for c in page["changes"]] == [r.id for r in mine]
    first = page["changes"][0]
    assert first == {
        "seq": mine[0].seq, "entity": "consultation", "id": mine[0].id, "op": "upsert", "version": 1,
        "data": {"population_group": "idp", "sex": "f", "age_band": "18-59", "visit": "new", "service": "general",
                 "referral": False, "site_id": "ly-mp-tripoli", "team_id": "ly-mmt-tripoli",
                 "occurred_on": mine[0].occurred_on.isoformat(), "recorded_at": mine[0].recorded_at,
                 "status": "active", "clock_suspect": False},
    }


def test_a_device_never_receives_another_teams_records(client: FlaskClient, session: Session) -> None:
    other = make_device(session, team_id="ly-chw-tripoli")
    theirs = {make_record(session, team_id="ly-chw-tripoli", site_id="ly-cdc-tripoli-1").id for _ in range(3)}
    for _ in range(4):
        make_record(session, team_id="ly-mmt-tripoli")

    changes, _ = pull_all(client, other.headers, limit=2)

    assert {c["id"] for c in changes} == theirs
    assert {c["data"]["team_id"] for c in changes} == {"ly-chw-tripoli"}


def test_a_corrected_record_appears_once_at_its_latest_version(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    record = make_record(session)
    make_record(session)
    correct(session, record, sex="m")

    changes, _ = pull_all(client, device.headers)

    assert [c["id"] for c in changes].count(record.id) == 1
    latest = next(c for c in changes if c["id"] == record.id)
    assert (latest["version"], latest["data"]["sex"], latest["seq"]) == (2, "m", record.seq)
    assert changes[-1]["id"] == record.id  # its new seq is the highest


def test_a_voided_record_stays_an_upsert(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    record = make_record(session)
    _, cursor = pull_all(client, device.headers)
    record.status, record.version, record.seq = "voided", 2, next_seq(session)
    session.flush()

    changes, _ = pull_all(client, device.headers, cursor=cursor)

    assert [(c["op"], c["version"], c["data"]["status"]) for c in changes] == [("upsert", 2, "voided")]


def test_paging_while_others_write_returns_every_change_exactly_once(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    records = [make_record(session) for _ in range(7)]
    received: list[dict[str, Any]] = []
    cursor: str | None = None
    writes = iter(range(100))
    while True:
        page = get_page(client, device.headers, cursor=cursor, limit=3)
        received += page["changes"]
        cursor = page["next_cursor"]
        # Between pages another device pushes: a new record, a correction of one already received
        # and a correction of one not received yet.
        step = next(writes)
        if step < 4:
            records.append(make_record(session))
            correct(session, records[step], quantity_note=step)
            correct(session, records[-2], referral=True)
        if not page["has_more"]:
            if step < 4:
                continue
            break

    seqs = [c["seq"] for c in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    keys = [(c["id"], c["version"]) for c in received]
    assert len(set(keys)) == len(keys), "a change was received twice"
    # Every record's latest state arrived, and nothing after it.
    latest = {c["id"]: c for c in received}
    assert {r.id: (r.version, r.seq) for r in records} == {i: (c["version"], c["seq"]) for i, c in latest.items()}


def test_next_cursor_of_the_last_page_returns_only_newer_changes(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    make_record(session)
    last = make_record(session)
    page = get_page(client, device.headers)
    assert page["has_more"] is False
    assert decode_cursor(page["next_cursor"], KEY).seq == last.seq

    empty = get_page(client, device.headers, cursor=page["next_cursor"])
    assert empty["changes"] == [] and empty["has_more"] is False
    # An empty page hands back the same position.
    assert decode_cursor(empty["next_cursor"], KEY).seq == last.seq

    newer = make_record(session)
    assert [c["id"] for c in get_page(client, device.headers, cursor=empty["next_cursor"])["changes"]] == [newer.id]


def test_has_more_is_exact_at_a_page_boundary(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    for _ in range(4):
        make_record(session)
    first = get_page(client, device.headers, limit=2)
    second = get_page(client, device.headers, cursor=first["next_cursor"], limit=2)
    assert (first["has_more"], len(second["changes"]), second["has_more"]) == (True, 2, False)


def test_default_limit_is_500(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    for _ in range(501):
        make_record(session)
    page = get_page(client, device.headers)
    assert (len(page["changes"]), page["has_more"]) == (500, True)


def test_team_id_is_immutable_so_records_never_leave_a_team() -> None:
    # The records stream sends no `remove` because a record cannot change team (server/operations/pull.py).
    # If this ever fails, the pull must learn about records that left a team's scope.
    assert "team_id" in IMMUTABLE_FIELDS


# --- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "5000", "1001", "1.5", ""])
def test_a_bad_limit_is_a_422_naming_it(client: FlaskClient, session: Session, limit: str) -> None:
    device = make_device(session)
    response = client.get(f"/api/v1/sync/pull?stream=records&limit={limit}", headers=device.headers)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "validation_failed"
    assert list(body["error"]["fields"]) == ["limit"]


def test_the_configured_maximum_is_enforced(client: FlaskClient, session: Session, app: Flask,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    device = make_device(session)
    session.commit()  # an error response rolls back the request's transaction, setup included
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", Limits(pull_max_limit=10))
    response = client.get("/api/v1/sync/pull?stream=records&limit=11", headers=device.headers)
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == ["limit"]
    assert client.get("/api/v1/sync/pull?stream=records&limit=10", headers=device.headers).status_code == 200


@pytest.mark.parametrize("query", ["", "?stream=", "?stream=rollups", "?stream=RECORDS&limit=5"])
def test_a_missing_or_unknown_stream_is_a_422_naming_it(client: FlaskClient, session: Session, query: str) -> None:
    device = make_device(session)
    response = client.get(f"/api/v1/sync/pull{query}", headers=device.headers)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["stream"]


def test_an_empty_cursor_is_the_initial_pull(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    record = make_record(session)
    response = client.get("/api/v1/sync/pull?stream=records&cursor=", headers=device.headers)
    assert [c["id"] for c in response.get_json()["changes"]] == [record.id]


# --- cursors the server cannot serve ---------------------------------------------------------


def _assert_reset(client: FlaskClient, headers: dict[str, str], cursor: str, stream: str = "records") -> None:
    response = client.get("/api/v1/sync/pull", query_string={"stream": stream, "cursor": cursor}, headers=headers)
    assert response.status_code == 410, response.get_json()
    assert response.get_json()["error"]["code"] == "reset_required"


def test_a_cursor_of_the_other_stream_needs_a_reset(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    cursor = get_page(client, device.headers, "reference")["next_cursor"]
    _assert_reset(client, device.headers, cursor, "records")


def test_a_device_moved_to_another_team_needs_a_reset(client: FlaskClient, session: Session) -> None:
    device = make_device(session, team_id="ly-mmt-tripoli")
    make_record(session)
    cursor = get_page(client, device.headers)["next_cursor"]
    device.device.team_id = "ly-chw-tripoli"
    session.commit()  # kept although the 410 rolls its own request back
    _assert_reset(client, device.headers, cursor)
    # The scope covers the reference stream too (the country is part of it).
    reference_cursor = encode_cursor(Cursor("reference", 1, decode_cursor(cursor, KEY).scope), KEY)
    _assert_reset(client, device.headers, reference_cursor, "reference")


def test_a_cursor_of_another_device_of_the_same_team_is_served(client: FlaskClient, session: Session) -> None:
    # The scope is the team, not the device: a re-enrolled tablet keeps its position.
    first, second = make_device(session), make_device(session)
    make_record(session)
    cursor = get_page(client, first.headers)["next_cursor"]
    assert get_page(client, second.headers, cursor=cursor)["changes"] == []


@pytest.mark.parametrize("tamper", ["garbage", "", "flip-seq", "other-key"])
def test_a_forged_or_foreign_cursor_needs_a_reset(client: FlaskClient, session: Session, tamper: str) -> None:
    device = make_device(session)
    make_record(session)
    good = get_page(client, device.headers)["next_cursor"]
    decoded = decode_cursor(good, KEY)
    bad = {
        "garbage": "not-a-cursor",
        "": "abc.def.ghi",
        # A real payload with a seq of 0 but the original signature: an attempt to rewind or jump.
        "flip-seq": encode_cursor(Cursor("records", 0, decoded.scope), KEY).split(".")[0] + "." + good.split(".")[1],
        # Signed by another key: e.g. a server restarted without SECRET_KEY.
        "other-key": encode_cursor(decoded, b"another key"),
    }[tamper]
    _assert_reset(client, device.headers, bad)


def test_a_cursor_older_than_pruned_history_needs_a_reset(client: FlaskClient, session: Session,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    device = make_device(session)
    make_record(session)
    cursor = get_page(client, device.headers)["next_cursor"]
    pruned_to = decode_cursor(cursor, KEY).seq + 1
    monkeypatch.setattr(pull_module, "oldest_servable_seq", lambda session, stream: pruned_to)
    _assert_reset(client, device.headers, cursor)


def test_a_cursor_ahead_of_the_counter_needs_a_reset(client: FlaskClient, session: Session) -> None:
    # A database restored from a backup older than the cursor would hand those seqs out again.
    device = make_device(session)
    scope = decode_cursor(get_page(client, device.headers)["next_cursor"], KEY).scope
    _assert_reset(client, device.headers, encode_cursor(Cursor("records", current_seq(session) + 10, scope), KEY))


# --- who may pull ----------------------------------------------------------------------------


def test_a_revoked_device_is_told_to_wipe(client: FlaskClient, session: Session) -> None:
    device = make_device(session, revoked=True)
    response = client.get("/api/v1/sync/pull?stream=records", headers=device.headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "device_revoked"
    assert response.get_json()["wipe"] is True


def test_pull_needs_a_device_token(client: FlaskClient, session: Session) -> None:
    from tests.factories import make_token, make_user

    assert client.get("/api/v1/sync/pull?stream=records").status_code == 401
    admin = make_token(session, make_user(session, role="admin"))
    response = client.get("/api/v1/sync/pull?stream=records", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 403


def test_what_a_tablet_pushes_another_tablet_of_the_team_pulls(client: FlaskClient, session: Session) -> None:
    """End to end through the push endpoint: the pulled change is the pushed content at its latest
    version, in the engine's wire shape."""
    from tests.factories import correct_mutation, create_mutation, push_body, push_headers, void_mutation

    pusher, puller = make_device(session), make_device(session)
    outsider = make_device(session, team_id="ly-chw-tripoli")
    session.commit()
    create = create_mutation("distribution")
    body = push_body([create])
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(pusher, body)).status_code == 200
    _, cursor = pull_all(client, puller.headers)
    body = push_body([correct_mutation(create["id"], 1, {"quantity": 3}, entity="distribution"),
                      void_mutation(create["id"], 2, entity="distribution")])
    response = client.post("/api/v1/sync/push", json=body, headers=push_headers(pusher, body))
    assert [r["status"] for r in response.get_json()["results"]] == ["applied", "applied"]

    changes, _ = pull_all(client, puller.headers, cursor=cursor)

    assert len(changes) == 1
    change = changes[0]
    assert (change["id"], change["entity"], change["op"], change["version"]) == (create["id"], "distribution",
                                                                                   "upsert", 3)
    assert change["seq"] == response.get_json()["results"][1]["seq"]
    # The server stores recorded_at in its canonical ISO form; the instant is the one sent.
    pulled = dict(change["data"])
    sent = {**create["data"], "quantity": 3, "status": "voided", "clock_suspect": False}
    assert datetime.fromisoformat(pulled.pop("recorded_at")) == datetime.fromisoformat(sent.pop("recorded_at"))
    assert pulled == sent
    assert pull_all(client, outsider.headers)[0] == []
