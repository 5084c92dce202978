"""GET /api/v1/indicators and GET /api/v1/aggregates (api.md "Aggregates")."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from server.models import Area, Site
from server.operations.reference import set_team_sites, upsert
from server.persistence.seq import next_seq
from sync.domain import Entity
from tests.bulk_records import make_state, write_record
from tests.factories import auth_headers, make_device, make_team, make_token, make_user


def push(session: Session, entity: Entity, team: str, site: str, day: date, **data: Any) -> None:
    state = make_state(entity, team, site, day, data)
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))


@pytest.fixture
def records(session: Session) -> None:
    person = {"sex": "f", "age_band": "18-59", "visit": "new", "service": "general", "referral": False}
    push(session, Entity.CONSULTATION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 1, 5),
         population_group="refugee", **person)
    push(session, Entity.CONSULTATION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 1, 20),
         population_group="migrant", **{**person, "sex": "m"})
    push(session, Entity.CONSULTATION, "ly-dcmt-sabha", "ly-dc-sabha", date(2016, 2, 3),
         population_group="refugee", **person)
    push(session, Entity.OUTREACH, "ly-chw-tripoli", "ly-cdc-tripoli-1", date(2016, 3, 1),
         population_group="host", activity="screening", reached={"f": {"18-59": 4}, "m": {"5-17": 3}})


@pytest.fixture
def coordinator(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="admin", countries=())))


def test_indicators_lists_the_registry(client, coordinator) -> None:
    response = client.get("/api/v1/indicators", headers=coordinator)
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    by_code = {item["code"]: item for item in body["items"]}
    assert set(by_code) == {"health_consultations", "people_consulted", "hygiene_kits_distributed",
                            "hygiene_kit_recipients", "people_reached_by_chws", "people_trained"}
    assert by_code["people_consulted"]["measure"] == "distinct_people"
    assert "service" in by_code["health_consultations"]["dimensions"]
    assert "item" in by_code["hygiene_kits_distributed"]["dimensions"]
    assert "service" not in by_code["people_reached_by_chws"]["dimensions"]


def test_indicators_pages_with_limit_and_cursor(client, coordinator) -> None:
    first = client.get("/api/v1/indicators?limit=2", headers=coordinator).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/indicators?limit=10&cursor={first['next_cursor']}", headers=coordinator).get_json()
    assert len(rest["items"]) == 4 and rest["next_cursor"] is None
    for bad in ("limit=abc", "limit=0", "cursor=nope", "foo=1"):
        assert client.get(f"/api/v1/indicators?{bad}", headers=coordinator).status_code == 422, bad


def test_field_workers_and_devices_may_not_read_aggregates(client, session) -> None:
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    assert client.get("/api/v1/indicators", headers=auth_headers(make_token(session, worker))).status_code == 403
    device = make_device(session)
    response = client.get("/api/v1/aggregates?indicator=health_consultations", headers=device.headers)
    assert response.status_code == 403
    assert client.get("/api/v1/aggregates?indicator=health_consultations").status_code == 401


def test_aggregates_by_area_and_month(client, coordinator, records) -> None:
    response = client.get("/api/v1/aggregates?indicator=health_consultations&group_by=area,month"
                          "&from=2016-01-01&to=2016-12-31&population_group=refugee,migrant", headers=coordinator)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["indicator"] == "health_consultations"
    assert body["group_by"] == ["area", "month"]
    assert body["filters"] == {"country": ["LY"], "population_group": ["migrant", "refugee"],
                               "from": "2016-01-01", "to": "2016-12-31"}
    assert body["rows"] == [
        {"area": "ly-sabha", "area_name": "Sabha", "month": "2016-02", "value": 1},
        {"area": "ly-tripoli", "area_name": "Tripoli", "month": "2016-01", "value": 2},
    ]
    assert body["total"] == 3


def test_year_is_an_integer_and_zero_groups_are_omitted(client, coordinator, records) -> None:
    body = client.get("/api/v1/aggregates?indicator=people_reached_by_chws&group_by=year,sex,team",
                      headers=coordinator).get_json()
    assert body["rows"] == [
        {"year": 2016, "sex": "f", "team": "ly-chw-tripoli", "team_name": "Community health workers Tripoli",
         "value": 4},
        {"year": 2016, "sex": "m", "team": "ly-chw-tripoli", "team_name": "Community health workers Tripoli",
         "value": 3},
    ]
    assert body["total"] == 7


def test_part_months_are_exact(client, coordinator, records) -> None:
    body = client.get("/api/v1/aggregates?indicator=health_consultations&from=2016-01-10&to=2016-02-02",
                      headers=coordinator).get_json()
    assert body["total"] == 1  # only 2016-01-20; 2016-01-05 and 2016-02-03 fall outside


@pytest.mark.parametrize(("query", "field", "message"), [
    ("indicator=nope", "indicator", "Unknown indicator: nope."),
    ("indicator=health_consultations&group_by=area,foo", "group_by", "Unknown dimension: foo."),
    ("indicator=health_consultations&foo=1", "foo", "Unknown dimension: foo."),
    ("indicator=health_consultations&population_group=martian", "population_group", "Unknown value: martian."),
    ("indicator=health_consultations&area=ly-atlantis", "area", "Unknown value: ly-atlantis."),
    ("indicator=health_consultations&month=2016-13", "month", "Unknown value: 2016-13."),
    ("indicator=hygiene_kits_distributed&group_by=service", "group_by",
     "Dimension service is not available for indicator hygiene_kits_distributed."),
    ("indicator=people_reached_by_chws&visit=new", "visit",
     "Dimension visit is not available for indicator people_reached_by_chws."),
    ("indicator=health_consultations&from=2016-02-01&to=2016-01-01", "from", "Must not be after to."),
    ("indicator=health_consultations&from=2016-02-30", "from", None),
    ("indicator=health_consultations&format=xml", "format", None),
    ("indicator=health_consultations&sex=", "sex", None),
    ("group_by=area", "indicator", None),
])
def test_invalid_queries_are_422_naming_the_parameter(client, coordinator, query, field, message) -> None:
    response = client.get(f"/api/v1/aggregates?{query}", headers=coordinator)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"], error
    if message:
        assert error["fields"][field] == [message]


@pytest.fixture
def tunisia(session: Session) -> None:
    make_team(session)
    upsert(session, Area, "tn-tunis", id="tn-tunis", country_code="TN", name="Tunis", pcode=None)
    upsert(session, Site, "tn-mp-tunis", id="tn-mp-tunis", area_id="tn-tunis", name="Tunis point",
           site_type="mobile_point", active=True)
    team = make_team(session)
    set_team_sites(session, team, ["tn-mp-tunis"])
    push(session, Entity.CONSULTATION, "tn-mmt-tunis", "tn-mp-tunis", date(2016, 1, 5), population_group="refugee",
         sex="f", age_band="18-59", visit="new", service="general", referral=False)


@pytest.mark.parametrize("query", ["country=TN", "country=LY,TN", "area=tn-tunis", "team=tn-mmt-tunis"])
def test_a_coordinator_outside_their_countries_gets_403(client, coordinator, records, tunisia, query) -> None:
    response = client.get(f"/api/v1/aggregates?indicator=health_consultations&{query}", headers=coordinator)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "out_of_scope"


def test_without_country_a_coordinator_gets_their_countries_and_an_admin_all(client, coordinator, admin, records,
                                                                              tunisia) -> None:
    url = "/api/v1/aggregates?indicator=health_consultations&group_by=country"
    mine = client.get(url, headers=coordinator).get_json()
    assert mine["rows"] == [{"country": "LY", "value": 3}]
    everyone = client.get(url, headers=admin).get_json()
    assert everyone["rows"] == [{"country": "LY", "value": 3}, {"country": "TN", "value": 1}]
    assert everyone["total"] == 4


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("how", [{"format": "csv"}, {"headers": {"Accept": "text/csv"}}])
def test_csv_columns_are_dimensions_names_then_value(client, coordinator, records, how) -> None:
    query = "indicator=health_consultations&group_by=area,sex"
    if "format" in how:
        query += "&format=csv"
    response = client.get(f"/api/v1/aggregates?{query}", headers={**coordinator, **how.get("headers", {})})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert _csv(response.get_data(as_text=True)) == [
        ["area", "area_name", "sex", "value"],
        ["ly-sabha", "Sabha", "f", "1"],
        ["ly-tripoli", "Tripoli", "f", "1"],
        ["ly-tripoli", "Tripoli", "m", "1"],
    ]


def test_hxl_adds_a_hashtag_row(client, coordinator, records) -> None:
    response = client.get("/api/v1/aggregates?indicator=health_consultations&group_by=area,month,population_group"
                          "&sex=f&format=hxl", headers=coordinator)
    assert response.status_code == 200
    lines = _csv(response.get_data(as_text=True))
    assert lines[0] == ["indicator", "country", "area", "area_name", "month", "population_group", "value"]
    assert lines[1] == ["#indicator+code", "#country+code", "#adm1+code", "#adm1+name", "#date+month", "#group+code",
                        "#indicator+value+num+f"]
    assert lines[2:] == [["health_consultations", "LY", "ly-sabha", "Sabha", "2016-02", "refugee", "1"],
                         ["health_consultations", "LY", "ly-tripoli", "Tripoli", "2016-01", "refugee", "1"]]
