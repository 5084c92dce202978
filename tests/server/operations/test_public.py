"""GET /public/v1/countries/<code>/impact (api.md "Public"): figures, suppression, what never leaks.

Records arrive through the real push endpoint from enrolled devices, so the page is tested on
exactly what the tablets write; both engines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.models import ImpactStatement
from server.operations import public
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    consultation_data,
    create_mutation,
    distribution_data,
    make_device,
    make_token,
    make_user,
    outreach_data,
    push_body,
    push_headers,
    training_data,
)

YEAR = 2016
DAY = "2016-05-03"
IMPACT = f"/public/v1/countries/LY/impact?year={YEAR}"
# The seeded statements (server/operations/seed.py): what each counts, for the comparison with /aggregates.
SEEDED = {
    "health_consultations": {"population_group": ["refugee", "asylum_seeker", "migrant", "idp"]},
    "hygiene_kit_recipients": {"population_group": ["refugee", "asylum_seeker", "migrant"]},
    "people_reached_by_chws": {},
    "people_trained": {"participant_type": ["moh_staff"], "topic": ["srh", "mhpss"]},
}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    # Each test's data is rolled back, seq included, so a page computed in one test could match
    # the stamp of another; a server never goes back in seq.
    public.CACHE.clear()
    yield
    public.CACHE.clear()


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[dict[str, Any]]) -> None:
    body = push_body(mutations)
    response = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert response.status_code == 200, response.get_json()
    statuses = {result["status"] for result in response.get_json()["results"]}
    assert statuses == {"applied"}, response.get_json()
    # The test client's requests share the fixture's app context, so the device's principal would
    # still be on `g` for the next (anonymous) request; in a server each request has its own.
    g.pop("principal", None)


def consultations(device: EnrolledDevice, n: int, *, day: str = DAY, population_group: str = "refugee",
                  **extra: Any) -> list[dict[str, Any]]:
    team = device.device.team_id
    site = {"ly-mmt-tripoli": "ly-mp-tripoli", "ly-dcmt-sabha": "ly-dc-sabha"}[team]
    return [create_mutation("consultation", consultation_data(team_id=team, site_id=site, occurred_on=day,
                                                              population_group=population_group, **extra))
            for _ in range(n)]


@pytest.fixture
def tripoli(session: Session) -> EnrolledDevice:
    enrolled = make_device(session, team_id="ly-mmt-tripoli")  # site ly-mp-tripoli, area ly-tripoli
    session.commit()
    return enrolled


@pytest.fixture
def sabha(session: Session) -> EnrolledDevice:
    enrolled = make_device(session, team_id="ly-dcmt-sabha")  # site ly-dc-sabha, area ly-sabha
    session.commit()
    return enrolled


@pytest.fixture
def chw(session: Session) -> EnrolledDevice:
    enrolled = make_device(session, team_id="ly-chw-tripoli")
    session.commit()
    return enrolled


def impact(client: FlaskClient, query: str = "", **headers: str) -> Any:
    return client.get(IMPACT + query, headers=headers)


def statement(body: dict[str, Any], indicator: str) -> dict[str, Any]:
    return next(s for s in body["statements"] if s["indicator"] == indicator)


# --- numbers ------------------------------------------------------------------------------------


def test_the_page_has_the_api_md_shape(client: FlaskClient) -> None:
    response = impact(client)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["country", "year", "as_of", "statements"]
    assert (body["country"], body["year"]) == ("LY", YEAR)
    assert body["as_of"].endswith("Z")
    assert [s["indicator"] for s in body["statements"]] == list(SEEDED)
    for item in body["statements"]:
        assert list(item) == ["indicator", "value", "suppressed", "text"]
        assert "{year}" not in item["text"]
    assert statement(body, "health_consultations")["text"] == (
        "health consultations were provided to refugees, migrants, and IDPs in 2016")


def test_values_equal_the_aggregates(client: FlaskClient, session: Session, tripoli, sabha, chw) -> None:
    push(client, tripoli, consultations(tripoli, 14) + consultations(tripoli, 6, population_group="host")
         + consultations(tripoli, 3, day="2017-01-02"))
    push(client, sabha, consultations(sabha, 11, population_group="idp") + consultations(sabha, 2, day="2015-12-31"))
    kits = [create_mutation("distribution", distribution_data(
        occurred_on=DAY, population_group="migrant", beneficiary_ref=f"p{i % 12}")) for i in range(30)]
    kits += [create_mutation("distribution", distribution_data(occurred_on=DAY, population_group="refugee",
                                                               item_code="blanket")) for _ in range(5)]
    push(client, tripoli, kits)
    push(client, chw, [create_mutation("outreach", outreach_data(
        team_id="ly-chw-tripoli", site_id="ly-cdc-tripoli-1", occurred_on=DAY, population_group="host"))
        for _ in range(3)])
    # 2 x 19 Ministry of Health staff trained in the statement's topics; nutrition and volunteers are not in it.
    push(client, chw, [create_mutation("training", training_data(
        team_id="ly-chw-tripoli", site_id="ly-cdc-tripoli-1", occurred_on=DAY, **extra))
        for extra in ({}, {"topic": "srh"}, {"topic": "nutrition"}, {"participant_type": "volunteer"})])
    admin = auth_headers(make_token(session, make_user(session, role="admin", countries=())))
    session.commit()

    body = impact(client).get_json()
    areas_body = impact(client, "&by=area").get_json()
    for indicator, filters in SEEDED.items():
        query = {"indicator": indicator, "country": "LY", "from": "2016-01-01", "to": "2016-12-31",
                 **{name: ",".join(values) for name, values in filters.items()}}
        total = client.get("/api/v1/aggregates", query_string=query, headers=admin).get_json()["total"]
        by_area = client.get("/api/v1/aggregates", query_string={**query, "group_by": "area"},
                             headers=admin).get_json()["rows"]
        assert total >= 10, indicator  # the comparison means something only above suppression
        assert statement(body, indicator)["value"] == total, indicator
        published = statement(areas_body, indicator)
        assert published["value"] == total
        expected = {row["area"]: row["value"] for row in by_area}
        got = {area["area"]: area["value"] for area in published["areas"] if area["value"]}
        assert got == {area: value for area, value in expected.items() if value >= 10}, indicator
    assert statement(body, "health_consultations")["value"] == 25  # 14 refugees + 11 IDPs, 2016 only
    assert statement(body, "hygiene_kit_recipients")["value"] == 12  # distinct people, hygiene kits only
    assert statement(body, "people_reached_by_chws")["value"] == 45  # 3 x (12 + 3)


def all_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(all_keys(child) for child in node.values()))
    if isinstance(node, list):
        return set().union(*(all_keys(child) for child in node))
    return set()


@pytest.mark.parametrize(("count", "value", "suppressed"), [(0, 0, False), (1, None, True), (9, None, True),
                                                              (10, 10, False)])
def test_counts_from_1_to_9_are_suppressed(client: FlaskClient, tripoli, count, value, suppressed) -> None:
    if count:
        push(client, tripoli, consultations(tripoli, count))
    published = statement(impact(client).get_json(), "health_consultations")
    assert (published["value"], published["suppressed"]) == (value, suppressed)


def test_areas_are_suppressed_and_all_listed(client: FlaskClient, tripoli, sabha) -> None:
    push(client, tripoli, consultations(tripoli, 10))
    push(client, sabha, consultations(sabha, 9))
    published = statement(impact(client, "&by=area").get_json(), "health_consultations")

    assert (published["value"], published["suppressed"]) == (19, False)
    areas = {area["area"]: area for area in published["areas"]}
    assert set(areas) == {"ly-tripoli", "ly-benghazi", "ly-misrata", "ly-sabha", "ly-khoms", "ly-kufra",
                          "ly-zawiya"}
    assert [area["area_name"] for area in published["areas"]] == sorted(a["area_name"] for a in areas.values())
    # Sabha's 9 is withheld; so is Tripoli's 10, or 19 - 10 would give Sabha away (complementary suppression).
    assert areas["ly-tripoli"] == {"area": "ly-tripoli", "area_name": "Tripoli", "value": None, "suppressed": True}
    assert areas["ly-sabha"] == {"area": "ly-sabha", "area_name": "Sabha", "value": None, "suppressed": True}
    assert areas["ly-kufra"] == {"area": "ly-kufra", "area_name": "Kufra", "value": 0, "suppressed": False}


def test_a_suppressed_area_cannot_be_worked_out_from_the_total(client: FlaskClient, tripoli, sabha) -> None:
    # The case in small: total 33 minus Tripoli's 30 would give Sabha's 3.
    push(client, tripoli, consultations(tripoli, 30))
    push(client, sabha, consultations(sabha, 3))
    body = impact(client, "&by=area").get_json()
    published = statement(body, "health_consultations")

    assert published["value"] == 33
    known = sum(area["value"] for area in published["areas"] if not area["suppressed"])
    hidden = [area["area"] for area in published["areas"] if area["suppressed"]]
    assert sorted(hidden) == ["ly-sabha", "ly-tripoli"]
    assert published["value"] - known == 33  # only the group's sum is known, and it is not a small count
    # Without by=area the total alone is published, as before.
    assert statement(impact(client).get_json(), "health_consultations")["value"] == 33


def test_the_by_area_footnote_speaks_of_hidden_areas_only_when_one_is_hidden(client: FlaskClient, tripoli,
                                                                             sabha) -> None:
    note = "Some area figures are not shown"
    html = f"/public/v1/countries/LY/impact.html?year={YEAR}&by=area"
    assert note not in client.get(html).text  # no records: every area shows 0, nothing is hidden
    push(client, tripoli, consultations(tripoli, 30))
    push(client, sabha, consultations(sabha, 3))
    assert note in client.get(html).text


def test_nothing_names_a_site_team_device_or_person(client: FlaskClient, session: Session, tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 12, beneficiary_ref="ben-0042"))
    push(client, tripoli, [create_mutation("distribution", distribution_data(
        occurred_on=DAY, population_group="refugee", beneficiary_ref=f"ben-{i}")) for i in range(11)])
    for query in ("", "&by=area"):
        body = impact(client, query).get_json()
        assert all_keys(body) <= {"country", "year", "as_of", "statements", "indicator", "value", "suppressed", "text",
                        "areas", "area", "area_name"}
        raw = json.dumps(body)
        for secret in ("ly-mp-tripoli", "ly-mmt-tripoli", tripoli.device.id, tripoli.user.username, "ben-"):
            assert secret not in raw


def test_a_statement_filtering_on_a_site_is_never_published(client: FlaskClient, session: Session,
                                                           tripoli) -> None:
    # Written past the CLI's checks (straight into the table): the page itself refuses it.
    session.add(ImpactStatement(country_code="LY", position=9, indicator="health_consultations",
                                filters={"site": ["ly-mp-tripoli"]}, text="consultations at one site"))
    session.commit()
    push(client, tripoli, consultations(tripoli, 12))
    body = impact(client).get_json()
    assert [s["indicator"] for s in body["statements"]] == list(SEEDED)
    assert "one site" not in json.dumps(body)


# --- requests it refuses --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["XX", "L1", "LYB", "L", "%C3%A9%C3%A9", "L%0A"])
def test_an_unknown_country_is_404(client: FlaskClient, code: str) -> None:
    response = client.get(f"/public/v1/countries/{code}/impact?year={YEAR}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_nul_in_the_code_is_refused_before_the_database() -> None:
    # http_body.py answers any NUL in a URL with 400 before a view runs; PostgreSQL would refuse it.
    assert public.country_code("LY\x00") is None
    assert public.country_code("LY\n") is None
    assert public.country_code("ly") == "LY"


def test_a_lower_case_code_is_the_same_page(client: FlaskClient) -> None:
    upper, lower = impact(client), client.get(f"/public/v1/countries/ly/impact?year={YEAR}")
    assert lower.status_code == 200
    assert lower.get_json()["country"] == "LY"
    assert lower.headers["ETag"] == upper.headers["ETag"]


@pytest.mark.parametrize(("query", "field"), [
    ("year=20x6", "year"), ("year=1999", "year"), ("year=3000", "year"), ("year=", "year"), ("", "year"),
    ("year=2016.5", "year"), ("year=2016&by=site", "by"), ("year=2016&by=team", "by"),
    ("year=2016&per=site", "per"),
])
def test_bad_parameters_are_422_naming_them(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/public/v1/countries/LY/impact?{query}")
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "validation_failed"
    assert field in body["error"]["fields"]


# --- the per-process cache ------------------------------------------------------------------------


def test_a_page_is_computed_once_per_change(client: FlaskClient, tripoli, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = public.aggregate

    def counting(session, indicator, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(indicator)
        return real(session, indicator, *args, **kwargs)

    monkeypatch.setattr(public, "aggregate", counting)
    first = impact(client)
    assert len(calls) == 4
    again = impact(client, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and len(calls) == 4  # nothing changed: nothing recomputed
    impact(client, "&by=area")
    assert len(calls) == 8  # another page

    push(client, tripoli, consultations(tripoli, 10))
    changed = impact(client)
    assert len(calls) == 12
    assert statement(changed.get_json(), "health_consultations")["value"] == 10

    monkeypatch.setattr(public.CACHE, "ttl", -1.0)  # expired: recomputed even without a change
    impact(client)
    assert len(calls) == 16
