"""`GET /teams`, `GET /devices`, `POST /devices/<id>/revoke`: scope, lists, revocation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.models import Conflict, Device, Record, Team
from server.persistence.timeutil import utcnow
from tests.factories import auth_headers, make_device, make_record, make_team, make_token, make_user


def coordinator(session, *countries: str) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=countries or ("LY",))))


def admin(session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="admin", countries=())))


def add_conflict(session, device: Device, *, status: str = "open") -> None:
    session.add(Conflict(record_id=str(uuid.uuid4()), entity="consultation", team_id=device.team_id,
                         device_id=device.id, op_id=str(uuid.uuid4()), base_version=1, current_version=2,
                         mutation={}, current={}, status=status, created_at=utcnow()))
    session.flush()


# --- teams ---------------------------------------------------------------------------------------


def test_a_coordinator_lists_the_teams_of_their_countries(client, session) -> None:
    make_team(session)
    response = client.get("/api/v1/teams", headers=coordinator(session, "LY"))

    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    by_id = {team["id"]: team for team in body["items"]}
    libya = set(session.scalars(select(Team.id).where(Team.country_code == "LY")))
    assert set(by_id) == libya
    assert by_id["ly-mmt-tripoli"] == {"id": "ly-mmt-tripoli", "name": by_id["ly-mmt-tripoli"]["name"],
                                       "team_type": "mobile_medical", "country": "LY",
                                       "site_ids": session.get(Team, "ly-mmt-tripoli").site_ids,
                                       "name_ar": "الفريق الطبي المتنقل في طرابلس",  # the demo's (issue 30)
                                       "active": True}  # issue 15 added the last two
    assert "ly-mp-tripoli" in by_id["ly-mmt-tripoli"]["site_ids"]
    assert [team["id"] for team in body["items"]] == sorted(by_id)


def test_teams_of_other_countries_are_not_listed_and_admins_see_all(client, session) -> None:
    make_team(session)
    tunisia = client.get("/api/v1/teams", headers=coordinator(session, "TN")).get_json()["items"]
    assert [team["id"] for team in tunisia] == ["tn-mmt-tunis"]
    everything = {team["id"] for team in client.get("/api/v1/teams", headers=admin(session)).get_json()["items"]}
    assert {"tn-mmt-tunis", "ly-mmt-tripoli"} <= everything


def test_teams_page_through_with_the_cursor(client, session) -> None:
    headers = coordinator(session, "LY")
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/teams", query_string=query, headers=headers).get_json()
        assert len(body["items"]) <= 2
        seen += [team["id"] for team in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(session.scalars(select(Team.id).where(Team.country_code == "LY")))


# --- devices -------------------------------------------------------------------------------------


def test_devices_in_scope_newest_first_with_pending_conflicts(client, session) -> None:
    older = make_device(session)
    older.device.created_at = utcnow() - timedelta(days=2)
    older.device.last_seen_at = utcnow() - timedelta(hours=3)
    newer = make_device(session, team_id="ly-dcmt-sabha")
    add_conflict(session, older.device)
    add_conflict(session, older.device)
    add_conflict(session, older.device, status="resolved")
    tunis = make_device(session, team_id=make_team(session).id)

    response = client.get("/api/v1/devices", headers=coordinator(session, "LY"))

    assert response.status_code == 200
    items = response.get_json()["items"]
    ids = [item["id"] for item in items]
    assert tunis.device.id not in ids
    assert ids.index(newer.device.id) < ids.index(older.device.id)
    item = next(item for item in items if item["id"] == older.device.id)
    assert item == {
        "id": older.device.id, "team_id": "ly-mmt-tripoli", "username": older.user.username,
        "label": "test tablet", "status": "active", "app_version": "1.4.0",
        "enrolled_at": item["enrolled_at"], "last_seen_at": item["last_seen_at"], "revoked_at": None,
        "pending_conflicts": 2, "quarantine_dropped": 0,
    }
    assert item["last_seen_at"].endswith("Z") and item["enrolled_at"].endswith("Z")
    assert next(i for i in items if i["id"] == newer.device.id)["pending_conflicts"] == 0


def test_devices_page_through_without_gaps_or_repeats(client, session) -> None:
    moment = utcnow()
    # Three share one enrollment time: the id breaks the tie, so none is skipped at a page boundary.
    devices = [make_device(session).device for _ in range(5)]
    for index, device in enumerate(devices):
        device.created_at = moment - timedelta(minutes=index // 3)
    session.flush()
    headers = admin(session)
    everything = [i["id"] for i in client.get("/api/v1/devices", query_string={"limit": 1000},
                                               headers=headers).get_json()["items"]]
    paged: list[str] = []
    cursor = None
    while True:
        body = client.get("/api/v1/devices", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=headers).get_json()
        paged += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == everything
    assert {device.id for device in devices} <= set(paged)


@pytest.mark.parametrize("url", ["/api/v1/devices", "/api/v1/teams"])
@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": "abc"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "0"}, "limit"),
     ({"limit": "5000"}, "limit"), ({"limit": "1.5"}, "limit"), ({"cursor": "garbage!"}, "cursor"),
     ({"cursor": "x" * 600}, "cursor"), ({"sort": "name"}, "sort")],
)
def test_bad_list_parameters_are_422_naming_them(client, session, url: str, query: dict, field: str) -> None:
    response = client.get(url, query_string=query, headers=admin(session))
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [field]


@pytest.mark.parametrize("url", ["/api/v1/devices", "/api/v1/teams"])
def test_lists_refuse_devices_and_anonymous_callers(client, session, url: str) -> None:
    device = make_device(session)
    session.commit()  # the first error response rolls back: keep the setup for the second request
    assert client.get(url).status_code == 401
    refused = client.get(url, headers=device.headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"


# --- revoke --------------------------------------------------------------------------------------


def revoke_url(device: Device) -> str:
    return f"/api/v1/devices/{device.id}/revoke"


def test_revoking_a_device_refuses_its_token_with_wipe_and_keeps_its_records(client, session) -> None:
    enrolled = make_device(session)
    record = make_record(session)
    record.device_id = enrolled.device.id
    add_conflict(session, enrolled.device)
    headers = coordinator(session, "LY")

    response = client.post(revoke_url(enrolled.device), headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == enrolled.device.id
    assert body["status"] == "revoked" and body["revoked_at"].endswith("Z")
    assert body["pending_conflicts"] == 1
    # From the next request on, the device's token gets 403 device_revoked with "wipe": true.
    refused = client.get("/api/v1/sync/hello", headers=enrolled.headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "device_revoked"
    assert refused.get_json()["wipe"] is True
    # Nothing it synced is lost.
    assert session.get(Record, record.id) is not None
    assert session.scalar(select(func.count()).select_from(Conflict)
                          .where(Conflict.device_id == enrolled.device.id)) == 1
    assert session.get(Device, enrolled.device.id).revoked_by is not None


def test_revoking_twice_keeps_the_first_revocation(client, session) -> None:
    enrolled = make_device(session)
    headers = coordinator(session, "LY")
    first = client.post(revoke_url(enrolled.device), headers=headers).get_json()
    second = client.post(revoke_url(enrolled.device), headers=headers)
    assert second.status_code == 200
    assert second.get_json()["revoked_at"] == first["revoked_at"]


def test_revoking_a_device_of_another_country_is_403(client, session) -> None:
    tunis = make_device(session, team_id=make_team(session).id)
    headers = coordinator(session, "LY")
    session.commit()  # the 403 rolls back: keep the setup to check the device is untouched
    response = client.post(revoke_url(tunis.device), headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "out_of_scope"
    assert session.get(Device, tunis.device.id).status == "active"


def test_revoking_an_unknown_device_is_404(client, session) -> None:
    response = client.post(f"/api/v1/devices/{uuid.uuid4()}/revoke", headers=admin(session))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_device_may_not_revoke_devices(client, session) -> None:
    enrolled = make_device(session)
    response = client.post(revoke_url(enrolled.device), headers=enrolled.headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_the_accounts_routes_are_in_the_openapi_document(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/v1/auth/token", "/api/v1/teams", "/api/v1/teams/{team_id}/enrollments", "/api/v1/devices/enroll",
            "/api/v1/devices", "/api/v1/devices/{device_id}/revoke"} <= set(paths)
    assert "201" in paths["/api/v1/devices/enroll"]["post"]["responses"]
    assert {p["name"] for p in paths["/api/v1/devices"]["get"]["parameters"]} >= {"limit", "cursor"}


@pytest.mark.parametrize("device_id", ["a%00b", "x" * 1000, "%E2%80%8Bzero-width"])
def test_implausible_device_ids_are_404_not_500(client, session, device_id: str) -> None:
    response = client.post(f"/api/v1/devices/{device_id}/revoke", headers=admin(session))
    assert response.status_code == 404
    assert len(response.get_json()["error"]["message"]) < 100
