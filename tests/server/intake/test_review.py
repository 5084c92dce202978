"""Coordinator review: GET /api/v1/conflicts, GET /api/v1/quarantine, GET /api/v1/records/<id>/history."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import (
    EnrolledDevice,
    auth_headers,
    consultation_data,
    correct_mutation,
    create_mutation,
    make_team,
    make_token,
    make_user,
    push_body,
    push_headers,
    void_mutation,
)

PUSH = "/api/v1/sync/push"


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = push_body(mutations)
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == 200
    return response.get_json()["results"]


@pytest.fixture
def coordinator(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))


@pytest.fixture
def outsider(session: Session) -> dict[str, str]:
    """A coordinator of another country programme."""
    make_team(session)
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("TN",))))


def _conflict(client: FlaskClient, device: EnrolledDevice) -> str:
    created = create_mutation()
    push(client, device, [created])
    push(client, device, [correct_mutation(created["id"], 1, {"sex": "m"})])
    assert push(client, device, [correct_mutation(created["id"], 1, {"sex": "x"})])[0]["status"] == "conflict"
    return created["id"]


def test_conflicts_list_the_open_conflicts_in_scope_newest_first(client, device, coordinator, outsider) -> None:
    first, second = _conflict(client, device), _conflict(client, device)

    page = client.get("/api/v1/conflicts", headers=coordinator).get_json()

    assert [item["record_id"] for item in page["items"]][:2] == [second, first]
    item = page["items"][0]
    assert (item["base_version"], item["current_version"], item["current"], item["status"]) == (1, 2, {"sex": "m"},
                                                                                                "open")
    assert item["mutation"]["data"] == {"sex": "x"} and item["created_at"].endswith("Z")
    assert client.get("/api/v1/conflicts", headers=outsider).get_json() == {"items": [], "next_cursor": None}


def test_quarantine_lists_rejected_items_raw_with_their_errors(client, device, coordinator, outsider) -> None:
    bad = create_mutation(data=consultation_data(site_id="ly-mp-benghazi"))
    push(client, device, [create_mutation(), bad, "junk"])

    items = client.get("/api/v1/quarantine", headers=coordinator).get_json()["items"]

    assert [item["mutation"] for item in items[:2]] == ["junk", bad]
    assert items[1]["errors"] == {"data.site_id": ["Unknown site for this team."]}
    assert (items[1]["reason"], items[1]["op_id"], items[1]["device_id"]) == ("rejected", bad["op_id"],
                                                                              device.device.id)
    assert client.get("/api/v1/quarantine", headers=outsider).get_json()["items"] == []


def test_lists_page_with_limit_and_cursor(client, device, coordinator) -> None:
    push(client, device, [create_mutation(data=consultation_data(sex="?")) for _ in range(3)])
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/quarantine", query_string=query, headers=coordinator).get_json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) >= 3


@pytest.mark.parametrize("path", ["/api/v1/conflicts", "/api/v1/quarantine"])
@pytest.mark.parametrize(("query", "field"), [("limit=abc", "limit"), ("limit=0", "limit"), ("limit=1001", "limit"),
                                              ("cursor=%25%25", "cursor")])
def test_bad_paging_parameters_are_422_naming_them(client, coordinator, path: str, query: str, field: str) -> None:
    response = client.get(f"{path}?{query}", headers=coordinator)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("path", ["/api/v1/conflicts", "/api/v1/quarantine"])
def test_devices_and_field_workers_may_not_review(client, session, device, path: str) -> None:
    assert client.get(path, headers=device.headers).status_code == 403
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    assert client.get(path, headers=auth_headers(make_token(session, worker))).status_code == 403
    assert client.get(path).status_code == 401


def test_a_records_history_shows_who_changed_what_when_and_why(client, session, device, coordinator,
                                                                outsider) -> None:
    created = create_mutation()
    created["data"]["recorded_at"] = created["data"]["recorded_at"].replace("Z", "+00:00")[:19] + "+02:00"
    push(client, device, [created])
    push(client, device, [correct_mutation(created["id"], 1, {"sex": "m", "visit": "follow_up"}, reason="typo")])
    push(client, device, [void_mutation(created["id"], 2, reason="entered twice")])

    response = client.get(f"/api/v1/records/{created['id']}/history", headers=coordinator)

    assert response.status_code == 200
    history = response.get_json()
    assert (history["version"], history["status"], history["data"]["sex"]) == (3, "voided", "m")
    # The device's local time, in UTC with Z like every other time, its offset beside it.
    assert history["data"]["recorded_at"].endswith("Z") and history["recorded_at_offset_minutes"] == 120
    revisions = history["revisions"]
    assert [(r["version"], r["kind"], r["reason"]) for r in revisions] == [
        (1, "create", None), (2, "correct", "typo"), (3, "void", "entered twice")]
    assert revisions[1]["changes"] == {"sex": "m", "visit": "follow_up"}
    assert revisions[2]["changes"] == {"status": "voided"}
    assert {r["username"] for r in revisions} == {device.user.username}
    assert {r["device_id"] for r in revisions} == {device.device.id}
    assert all(r["at"].endswith("Z") for r in revisions)
    # Out of scope answers like unknown.
    assert client.get(f"/api/v1/records/{created['id']}/history", headers=outsider).status_code == 404
    assert client.get("/api/v1/records/nope/history", headers=coordinator).status_code == 404
