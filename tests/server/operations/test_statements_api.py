"""`GET`/`PUT /api/v1/countries/<code>/statements` (api.md v1.2, issue 30 §2) and the default
statements a new country gets, so its public page fills as soon as records arrive."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEntry
from server.persistence.timeutil import utcnow
from tests.factories import (
    auth_headers,
    consultation_data,
    create_mutation,
    make_device,
    make_team,
    make_token,
    make_user,
    push_body,
    push_headers,
)
from tests.server.operations.test_public import fresh_cache  # noqa: F401  (autouse: clears the page cache here too)

LY = "/api/v1/countries/LY/statements"
NEW = [
    {"indicator": "health_consultations", "filters": {"population_group": ["idp"]},
     "text": "consultations for displaced people in {year}", "text_ar": "استشارة للنازحين في عام {year}"},
    {"indicator": "people_reached_by_chws", "text": "people reached"},
]


def _headers(session: Session, role: str = "coordinator", countries: tuple[str, ...] = ("LY",)) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role=role, countries=countries)))


def test_a_coordinator_reads_and_replaces_their_countrys_statements(client, session) -> None:
    ly = _headers(session)
    session.commit()
    seeded = client.get(LY, headers=ly)
    assert seeded.status_code == 200
    assert [s["indicator"] for s in seeded.get_json()["items"]] == [
        "health_consultations", "hygiene_kit_recipients", "people_reached_by_chws", "people_trained"]
    assert seeded.get_json()["next_cursor"] is None

    saved = client.put(LY, json=NEW, headers=ly)

    assert saved.status_code == 200, saved.get_json()
    expected = [{**NEW[0]}, {"indicator": "people_reached_by_chws", "filters": {}, "text": "people reached",
                             "text_ar": None}]
    assert saved.get_json()["items"] == expected
    assert client.get(LY, headers=ly).get_json()["items"] == expected
    page = client.get(f"/public/v1/countries/LY/impact?year={utcnow().year}").get_json()
    assert [s["text"] for s in page["statements"]] == [f"consultations for displaced people in {utcnow().year}",
                                                       "people reached"]
    arabic = client.get(f"/public/v1/countries/LY/impact?year={utcnow().year}&lang=ar").get_json()
    assert arabic["statements"][0]["text"] == f"استشارة للنازحين في عام {utcnow().year}"
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.target_type == "statements"))
    assert entry.target_id == "LY" and len(entry.before["statements"]) == 4 and entry.after["statements"] == expected
    assert client.put(LY, json=[], headers=ly).get_json()["items"] == []  # a page may publish nothing


def test_scope_and_unknown_countries(client, session) -> None:
    make_team(session)
    ly = _headers(session)
    root = _headers(session, "admin", ())
    session.commit()
    assert client.get("/api/v1/countries/TN/statements", headers=ly).status_code == 403
    assert client.put("/api/v1/countries/TN/statements", json=NEW, headers=ly).status_code == 403
    assert client.get("/api/v1/countries/TN/statements", headers=root).status_code == 200
    assert client.get("/api/v1/countries/ZZ/statements", headers=root).status_code == 404
    assert client.get("/api/v1/countries/ly/statements", headers=ly).status_code == 200  # either case


def test_invalid_statements_are_422s_by_index_and_field_and_change_nothing(client, session) -> None:
    ly = _headers(session)
    session.commit()
    before = client.get(LY, headers=ly).get_json()

    def fields(body: object) -> set[str]:
        answer = client.put(LY, json=body, headers=ly)
        assert answer.status_code == 422, answer.get_json()
        return set(answer.get_json()["error"]["fields"])

    assert fields([{"indicator": "beds", "text": "x"}]) == {"0.indicator"}
    assert fields([NEW[1], {"indicator": "health_consultations", "filters": {"population_group": ["aliens"]},
                            "text": "x"}]) == {"1.filters.population_group"}
    assert fields([{"indicator": "health_consultations", "filters": {"site": ["ly-mp-tripoli"]},
                    "text": "x"}]) == {"0.filters"}  # one site's count is never public
    assert fields([{"indicator": "health_consultations", "text": "in {yaer}"}]) == {"0.text"}
    assert fields([{"indicator": "health_consultations", "text": "x", "text_ar": "{0.x}"}]) == {"0.text_ar"}
    assert fields([{"indicator": "health_consultations", "text": "x", "colour": "red"}]) == {"0.colour"}
    assert fields([{"text": "x"}]) == {"0.indicator"}
    assert fields({"indicator": "health_consultations", "text": "x"}) == {"_schema"}  # not a list
    assert fields([{"indicator": "health_consultations", "text": "x"}] * 21) == {"_request"}
    assert client.get(LY, headers=ly).get_json() == before
    assert client.put(LY, data="[]", headers=ly).status_code == 415


def test_a_new_country_gets_default_statements_and_its_page_fills_as_records_arrive(app, client, session) -> None:
    root = _headers(session, "admin", ())
    session.commit()
    added = app.test_cli_runner().invoke(args=["reference", "add-country", "TN", "--name", "Tunisia"])
    assert added.exit_code == 0, added.stderr
    assert "default statements in English and Arabic" in added.stdout
    for path, body in (("/api/v1/areas", {"id": "tn-tunis", "country": "TN", "name": "Tunis"}),
                       ("/api/v1/sites", {"id": "tn-mp-tunis", "area_id": "tn-tunis", "name": "Mobile point Tunis",
                                          "site_type": "mobile_point"}),
                       ("/api/v1/teams", {"id": "tn-mmt-tunis", "country": "TN", "name": "Mobile team Tunis",
                                          "team_type": "mobile_medical", "site_ids": ["tn-mp-tunis"]})):
        assert client.post(path, json=body, headers=root).status_code == 201, client.post(path, json=body,
                                                                                        headers=root).get_json()
    year = utcnow().year
    empty = client.get(f"/public/v1/countries/TN/impact?year={year}").get_json()
    assert [(s["indicator"], s["value"]) for s in empty["statements"]][0] == ("health_consultations", 0)

    tablet = make_device(session, team_id="tn-mmt-tunis")
    session.commit()
    body = push_body([create_mutation(data=consultation_data(team_id="tn-mmt-tunis", site_id="tn-mp-tunis",
                                                             population_group="migrant")) for _ in range(12)])
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(tablet, body)).status_code == 200

    page = client.get(f"/public/v1/countries/TN/impact?year={year}").get_json()
    assert page["statements"][0] == {"indicator": "health_consultations", "value": 12, "suppressed": False,
                                     "text": f"health consultations were provided in {year}"}
    arabic = client.get(f"/public/v1/countries/TN/impact?year={year}&lang=ar").get_json()
    assert arabic["statements"][0]["text"] == f"استشارة صحية قُدّمت في عام {year}"
