"""The administration API of issue 15: reference data and users over HTTP, in scope, audited,
and received by tablets through the `reference` pull stream."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEntry, Site, Team, User
from server.persistence.seq import current_seq
from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    create_mutation,
    make_device,
    make_team,
    make_token,
    make_user,
    push_body,
    push_headers,
)

NEW_PASSWORD = "another long passphrase"


def headers_for(session: Session, role: str = "coordinator", countries: tuple[str, ...] = ("LY",)) -> dict[str, str]:
    user = make_user(session, role=role, countries=countries if role != "admin" else ())
    return auth_headers(make_token(session, user))


@pytest.fixture
def ly(session: Session) -> dict[str, str]:
    make_team(session)  # Tunisia exists too, for scope tests
    headers = headers_for(session)
    session.commit()
    return headers


@pytest.fixture
def root(session: Session) -> dict[str, str]:
    headers = headers_for(session, "admin")
    session.commit()
    return headers


def pull_reference(client: FlaskClient, device_headers: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = ""
    while True:
        body = client.get(f"/api/v1/sync/pull?stream=reference&limit=500&cursor={cursor}",
                          headers=device_headers).get_json()
        for change in body["changes"]:
            changes[(change["entity"], change["id"])] = change
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return changes


def audit_of(session: Session, target_id: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.target_id == target_id).order_by(AuditEntry.id)))


# --- countries ---------------------------------------------------------------------------------


def test_an_admin_adds_a_country_and_coordinators_may_not(client, session, ly, root) -> None:
    created = client.post("/api/v1/countries", json={"code": "sd", "name": "Sudan", "name_ar": "السودان"},
                          headers=root)
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == {"code": "SD", "name": "Sudan", "name_ar": "السودان"}
    assert client.post("/api/v1/countries", json={"code": "SD", "name": "Sudan"}, headers=root).status_code == 409
    bad = client.post("/api/v1/countries", json={"code": "XX", "name": "Nowhere"}, headers=root)
    assert bad.status_code == 422 and "ISO 3166-1" in bad.get_json()["error"]["fields"]["code"][0]
    assert client.post("/api/v1/countries", json={"code": "EG", "name": "Egypt"}, headers=ly).status_code == 403
    assert client.patch("/api/v1/countries/SD", json={"name_ar": None}, headers=root).get_json()["name_ar"] is None
    listed = client.get("/api/v1/countries", headers=ly).get_json()["items"]
    assert [country["code"] for country in listed] == ["LY"]


def test_the_cli_adds_a_country_with_cldrs_arabic_name_and_validates_the_code(app, session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reference", "add-country", "tn", "--name", "Tunisia"])
    assert result.exit_code == 0, result.stderr
    assert "country TN added: Tunisia / تونس" in result.stdout
    explicit = runner.invoke(args=["reference", "add-country", "SD", "--name", "Sudan", "--name-ar", "السودان"])
    assert explicit.exit_code == 0 and "السودان" in explicit.stdout
    for code, message in (("XX", "not an ISO 3166-1 alpha-2"), ("LBY", "not an ISO 3166-1 alpha-2"),
                          ("TN", "already exists"), ("EU", "not an ISO 3166-1 alpha-2")):
        refused = runner.invoke(args=["reference", "add-country", code, "--name", "Somewhere"])
        assert refused.exit_code == 1 and message in refused.stderr, (code, refused.stderr)
    named = runner.invoke(args=["reference", "set-name-ar", "area", "ly-tripoli", "طرابلس"])
    assert named.exit_code == 0, named.stderr
    # One act, one entry: the country, with its default public statements (server/operations/statements.py).
    (entry,) = audit_of(session, "TN")
    assert (entry.actor, entry.action, entry.target_type) == ("cli", "create", "country")
    assert [s["indicator"] for s in entry.after["statements"]][0] == "health_consultations"


# --- areas, sites, teams: scope, seqs, audit, pull --------------------------------------------


def test_a_coordinator_adds_an_area_site_and_team_that_tablets_receive(client, session, ly) -> None:
    device = make_device(session)
    session.commit()
    before = current_seq(session)

    area = client.post("/api/v1/areas", json={"id": "ly-ghat", "country": "LY", "name": "Ghat", "name_ar": "غات",
                                              "pcode": "LY0199"}, headers=ly)
    site = client.post("/api/v1/sites", json={"id": "ly-cc-ghat", "area_id": "ly-ghat", "name": "Ghat centre",
                                              "site_type": "community_centre"}, headers=ly)
    team = client.post("/api/v1/teams", json={"id": "ly-chw-ghat", "country": "LY", "name": "CHW Ghat",
                                              "team_type": "chw", "site_ids": ["ly-cc-ghat"]}, headers=ly)

    assert (area.status_code, site.status_code, team.status_code) == (201, 201, 201), team.get_json()
    assert site.get_json() == {"id": "ly-cc-ghat", "area_id": "ly-ghat", "country": "LY", "name": "Ghat centre",
                               "name_ar": None, "site_type": "community_centre", "active": True}
    assert team.get_json()["site_ids"] == ["ly-cc-ghat"] and team.get_json()["active"] is True
    assert session.get(Team, "ly-chw-ghat").seq > session.get(Site, "ly-cc-ghat").seq > before
    pulled = pull_reference(client, device.headers)
    assert pulled[("area", "ly-ghat")]["data"] == {"id": "ly-ghat", "country": "LY", "name": "Ghat", "pcode": "LY0199",
                                                   "name_ar": "غات"}
    assert pulled[("team", "ly-chw-ghat")]["data"]["site_ids"] == ["ly-cc-ghat"]
    entries = client.get("/api/v1/audit?limit=3", headers=ly).get_json()
    assert [(e["action"], e["target_type"], e["target_id"]) for e in entries["items"]] == [
        ("create", "team", "ly-chw-ghat"), ("create", "site", "ly-cc-ghat"), ("create", "area", "ly-ghat")]
    assert entries["items"][2]["before"] is None and entries["items"][2]["after"]["name_ar"] == "غات"
    assert entries["next_cursor"] is None  # three entries: one page


def test_edits_take_a_new_seq_and_record_before_and_after(client, session, ly) -> None:
    seq = session.get(Team, "ly-mmt-tripoli").seq
    edited = client.patch("/api/v1/teams/ly-mmt-tripoli", json={"name_ar": "الفريق الطبي المتنقل طرابلس",
                                                                 "site_ids": ["ly-mp-tripoli"]}, headers=ly)
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["site_ids"] == ["ly-mp-tripoli"]
    session.expire_all()
    assert session.get(Team, "ly-mmt-tripoli").seq > seq
    entry = audit_of(session, "ly-mmt-tripoli")[-1]
    assert entry.action == "update" and entry.after["site_ids"] == ["ly-mp-tripoli"]
    assert entry.before["name_ar"] == "الفريق الطبي المتنقل في طرابلس"  # the demo's Arabic name (issue 30)
    assert entry.after["name_ar"] == "الفريق الطبي المتنقل طرابلس"
    unchanged_seq = session.get(Team, "ly-mmt-tripoli").seq
    again = client.patch("/api/v1/teams/ly-mmt-tripoli", json={"site_ids": ["ly-mp-tripoli"]}, headers=ly)
    assert again.status_code == 200
    session.expire_all()
    assert session.get(Team, "ly-mmt-tripoli").seq == unchanged_seq  # nothing changed: no seq, no entry
    assert len(audit_of(session, "ly-mmt-tripoli")) == 1


def test_a_coordinator_acts_only_in_their_countries(client, session, ly) -> None:
    tunisian = headers_for(session, countries=("TN",))
    session.commit()
    tn_area = {"id": "tn-x", "country": "TN", "name": "X"}
    assert client.post("/api/v1/areas", json=tn_area, headers=ly).status_code == 403
    assert client.patch("/api/v1/areas/ly-tripoli", json={"name": "X"}, headers=tunisian).status_code == 403
    assert client.post("/api/v1/sites/ly-mp-tripoli/deactivate", headers=tunisian).status_code == 403
    assert client.post("/api/v1/teams/ly-mmt-tripoli/deactivate", headers=tunisian).status_code == 403
    assert client.get("/api/v1/areas?country=LY", headers=tunisian).status_code == 403
    assert client.get("/api/v1/areas", headers=tunisian).get_json()["items"] == []
    assert client.patch("/api/v1/areas/no-such-area", json={"name": "X"}, headers=ly).status_code == 404
    # A site of a Libyan team must be Libyan.
    cross = client.post("/api/v1/teams", json={"id": "ly-new", "country": "LY", "name": "New", "team_type": "chw",
                                               "site_ids": ["nope"]}, headers=ly)
    assert cross.status_code == 422 and cross.get_json()["error"]["fields"] == {"site_ids": ["Unknown site nope."]}
    # Audit entries of Libya are not shown to Tunisia's coordinator.
    client.patch("/api/v1/areas/ly-tripoli", json={"name_ar": "طرابلس"}, headers=ly)
    assert client.get("/api/v1/audit", headers=tunisian).get_json()["items"] == []


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/api/v1/areas", {"id": "ly tripoli!", "country": "LY", "name": "X"}, {"id"}),
        ("/api/v1/areas", {"id": "ly-x", "country": "LY"}, {"name"}),
        ("/api/v1/areas", {"id": "ly-x", "country": "Libya", "name": "X"}, {"country"}),
        ("/api/v1/areas", {"id": "ly-x", "country": "LY", "name": "X", "colour": "red"}, {"colour"}),
        ("/api/v1/areas", {"id": "ly-x", "country": "LY", "name": "x" * 101}, {"name"}),
        ("/api/v1/areas", {"id": "ly-x", "country": "EG", "name": "X"}, {"country"}),
        ("/api/v1/sites", {"id": "ly-s", "area_id": "ly-tripoli", "name": "S", "site_type": "castle"}, {"site_type"}),
        ("/api/v1/sites", {"id": "ly-s", "area_id": "ly-nowhere", "name": "S", "site_type": "mobile_point"},
         {"area_id"}),
        ("/api/v1/teams", {"id": "ly-t", "country": "LY", "name": "T", "team_type": "navy"}, {"team_type"}),
        ("/api/v1/users", {"username": "x", "role": "king", "password": NEW_PASSWORD}, {"role"}),
    ],
)
def test_bad_fields_are_422s_naming_them(client, session, ly, path: str, body: dict, fields: set[str]) -> None:
    response = client.post(path, json=body, headers=ly)
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["error"]["fields"]) == fields


def test_duplicate_ids_are_409(client, session, ly) -> None:
    for path, body in (
        ("/api/v1/areas", {"id": "ly-tripoli", "country": "LY", "name": "Tripoli again"}),
        ("/api/v1/sites", {"id": "ly-mp-tripoli", "area_id": "ly-tripoli", "name": "Again",
                           "site_type": "mobile_point"}),
        ("/api/v1/teams", {"id": "ly-mmt-tripoli", "country": "LY", "name": "Again", "team_type": "chw"}),
    ):
        response = client.post(path, json=body, headers=ly)
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "already_exists"


def test_an_empty_patch_is_a_422(client, ly) -> None:
    response = client.patch("/api/v1/areas/ly-tripoli", json={}, headers=ly)
    assert response.status_code == 422


def test_deactivating_a_site_with_records_keeps_them_counted(client, session, ly) -> None:
    device = make_device(session)
    session.commit()
    body = push_body([create_mutation("consultation") for _ in range(3)])
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body)).status_code == 200
    url = "/api/v1/aggregates?indicator=health_consultations&country=LY&group_by=site"

    def tripoli_count() -> int:
        rows = client.get(url, headers=ly).get_json()["rows"]
        return sum(row["value"] for row in rows if row["site"] == "ly-mp-tripoli")

    before = tripoli_count()
    response = client.post("/api/v1/sites/ly-mp-tripoli/deactivate", headers=ly)

    assert response.status_code == 200 and response.get_json()["active"] is False
    assert tripoli_count() == before >= 3
    assert pull_reference(client, device.headers)[("site", "ly-mp-tripoli")]["op"] == "remove"
    entry = audit_of(session, "ly-mp-tripoli")[-1]
    assert entry.action == "deactivate" and entry.after["records_kept"] >= 3
    assert client.post("/api/v1/sites/ly-mp-tripoli/activate", headers=ly).get_json()["active"] is True


def test_a_deactivated_team_is_removed_on_tablets_and_takes_no_enrollment(client, session, ly) -> None:
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    device = make_device(session, user=worker)
    session.commit()
    assert client.post("/api/v1/teams/ly-mmt-tripoli/deactivate", headers=ly).get_json()["active"] is False
    assert pull_reference(client, device.headers)[("team", "ly-mmt-tripoli")]["op"] == "remove"
    refused = client.post("/api/v1/teams/ly-mmt-tripoli/enrollments", json={"username": worker.username}, headers=ly)
    assert refused.status_code == 422 and "deactivated" in refused.get_json()["error"]["fields"]["team"][0]


# --- items and services ------------------------------------------------------------------------


def test_items_and_services_are_for_admins(client, session, ly, root) -> None:
    item = {"code": "soap-bar", "name": "Soap bar", "name_ar": "صابون", "category": "nfi"}
    assert client.post("/api/v1/items", json=item, headers=ly).status_code == 403
    assert client.post("/api/v1/items", json=item, headers=root).status_code == 201
    assert client.post("/api/v1/items", json=item, headers=root).status_code == 409
    assert client.patch("/api/v1/items/soap-bar", json={"category": "hygiene_kit"}, headers=root).status_code == 200
    service = {"code": "nutrition", "name": "Nutrition"}
    assert client.post("/api/v1/services", json=service, headers=ly).status_code == 403
    assert client.post("/api/v1/services", json=service, headers=root).status_code == 201
    codes = [s["code"] for s in client.get("/api/v1/services?limit=1000", headers=ly).get_json()["items"]]
    assert "nutrition" in codes
    entries = client.get("/api/v1/audit", headers=root).get_json()["items"]
    assert {(e["target_type"], e["target_id"]) for e in entries} >= {("item", "soap-bar"), ("service", "nutrition")}
    assert client.get("/api/v1/audit", headers=ly).get_json()["items"] == []  # no country: admins only


# --- users ---------------------------------------------------------------------------------------


def test_a_coordinator_manages_the_users_of_their_country(client, session, ly) -> None:
    created = client.post("/api/v1/users", json={"username": "Field.One", "role": "field_worker", "countries": ["LY"],
                                                 "team_id": "ly-mmt-tripoli", "password": NEW_PASSWORD}, headers=ly)
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == {"username": "field.one", "role": "field_worker", "countries": ["LY"],
                                  "team_id": "ly-mmt-tripoli", "active": True, "locked": False,
                                  "created_at": created.get_json()["created_at"]}
    coordinator = client.post("/api/v1/users", json={"username": "coord.two", "role": "coordinator",
                                                     "countries": ["LY"], "password": NEW_PASSWORD}, headers=ly)
    assert coordinator.status_code == 201
    listed = [u["username"] for u in client.get("/api/v1/users", headers=ly).get_json()["items"]]
    assert {"field.one", "coord.two"} <= set(listed) and listed == sorted(listed)

    # The new coordinator signs in; deactivation refuses their token at once.
    token = client.post("/api/v1/auth/token", json={"username": "coord.two", "password": NEW_PASSWORD}).get_json()
    their = auth_headers(token["token"])
    assert client.get("/api/v1/teams", headers=their).status_code == 200
    assert client.post("/api/v1/users/coord.two/deactivate", headers=ly).get_json()["active"] is False
    assert client.get("/api/v1/teams", headers=their).status_code == 401
    assert client.post("/api/v1/users/coord.two/activate", headers=ly).get_json()["active"] is True

    weak = client.post("/api/v1/users/field.one/reset-password", json={"password": "short"}, headers=ly)
    assert weak.status_code == 422 and "password" in weak.get_json()["error"]["fields"]
    reset = client.post("/api/v1/users/field.one/reset-password", json={"password": "a fresh passphrase"}, headers=ly)
    assert reset.status_code == 200
    assert client.post("/api/v1/users/field.one/unlock", headers=ly).get_json() == {"username": "field.one",
                                                                                    "failures_cleared": 0}
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=ly).get_json()["items"]
               if e["target_type"] == "user"]
    assert actions == ["unlock", "reset_password", "activate", "deactivate", "create", "create"]


def test_user_scope_refusals(client, session, ly) -> None:
    make_user(session, username="tunisian", countries=("TN",))
    make_user(session, username="both", countries=("LY", "TN"))
    make_user(session, username="the-admin", role="admin", countries=())
    me = session.scalar(select(User).join(User.country_links).where(User.username.like("user-%")))
    session.commit()
    assert client.post("/api/v1/users/tunisian/deactivate", headers=ly).status_code == 404
    assert client.post("/api/v1/users/both/deactivate", headers=ly).status_code == 403
    assert client.post("/api/v1/users/the-admin/unlock", headers=ly).status_code == 404  # no country: not in scope
    assert client.post("/api/v1/users/nobody/unlock", headers=ly).status_code == 404
    admin_wanted = client.post("/api/v1/users", json={"username": "new-admin", "role": "admin",
                                                      "password": NEW_PASSWORD}, headers=ly)
    assert admin_wanted.status_code == 422 and "role" in admin_wanted.get_json()["error"]["fields"]
    other_country = client.post("/api/v1/users", json={"username": "tn-coord", "role": "coordinator",
                                                       "countries": ["TN"], "password": NEW_PASSWORD}, headers=ly)
    assert other_country.status_code == 403
    taken = client.post("/api/v1/users", json={"username": "both", "role": "coordinator", "countries": ["LY"],
                                               "password": NEW_PASSWORD}, headers=ly)
    assert taken.status_code == 409 and "already exists" in taken.get_json()["error"]["fields"]["username"][0]
    assert me is not None
    assert client.post(f"/api/v1/users/{me.username}/deactivate", headers=ly).status_code == 422


def test_the_audit_log_pages_newest_first(client, session, ly) -> None:
    for index in range(5):
        client.patch("/api/v1/areas/ly-tripoli", json={"name_ar": f"طرابلس {index}"}, headers=ly)
    first = client.get("/api/v1/audit?limit=2", headers=ly).get_json()
    second = client.get(f"/api/v1/audit?limit=2&cursor={first['next_cursor']}", headers=ly).get_json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert first["items"][0]["after"]["name_ar"] == "طرابلس 4" and first["items"][0]["actor"].startswith("user-")
    assert client.get("/api/v1/audit?limit=0", headers=ly).status_code == 422
    assert client.get("/api/v1/audit").status_code == 401


def test_admin_routes_are_in_the_openapi_document(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/countries", "/api/v1/areas", "/api/v1/sites/{site_id}/deactivate", "/api/v1/teams/{team_id}",
                 "/api/v1/items", "/api/v1/services", "/api/v1/users/{username}/reset-password", "/api/v1/audit"):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/teams"])
    assert DEFAULT_PASSWORD  # factories' password is what make_user sets


def test_openapi_declares_bearer_security_every_aggregate_parameter_and_csv(client) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"]}
    paths = document["paths"]
    assert paths["/api/v1/audit"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/sync/push"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/auth/token"]["post"]["security"] == []
    assert paths["/public/v1/countries/{code}/impact"]["get"]["security"] == []
    aggregates = paths["/api/v1/aggregates"]["get"]
    names = {parameter["name"] for parameter in aggregates["parameters"]}
    assert names >= {"indicator", "group_by", "from", "to", "format", "country", "area", "site", "site_type", "team",
                     "population_group", "sex", "age_band", "service", "visit", "item", "activity"}
    assert set(aggregates["responses"]["200"]["content"]) == {"application/json", "text/csv"}
