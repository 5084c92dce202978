"""Trainings (domain.md, api.md "Additions (v1.2)") through every consumer of the record-type registry:
push and pull, aggregates of `people_trained` (and the 422 for the dimensions that do not apply),
line lists, HXL, and the dashboard's labels. OpenRosa, DHIS2 and the public statement have theirs in
test_openrosa*.py, test_dhis2.py and test_public.py."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import hxl
import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.aggregation import verify
from server.models import Record
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    correct_mutation,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
    training_data,
)

DAY = "2016-05-03"
SITE = {"team_id": "ly-chw-tripoli", "site_id": "ly-cdc-tripoli-1"}


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = push_body(mutations)
    response = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert response.status_code == 200, response.get_json()
    g.pop("principal", None)  # the test client shares the fixture's app context (see test_public.py)
    return response.get_json()["results"]


@pytest.fixture
def chw(session: Session) -> EnrolledDevice:
    enrolled = make_device(session, team_id="ly-chw-tripoli")
    session.commit()
    return enrolled


@pytest.fixture
def coordinator(session: Session) -> dict[str, str]:
    headers = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))
    session.commit()
    return headers


@pytest.fixture
def trainings(client: FlaskClient, chw: EnrolledDevice) -> list[dict[str, Any]]:
    """Four trainings in May 2016: 19 + 19 MoH staff (mhpss, srh), 5 volunteers, 8 MoH staff in nutrition."""
    rows = [
        {},
        {"topic": "srh", "title": "Clinical management of SRH"},
        {"participant_type": "volunteer", "participants": {"f": 2, "x": 3}},
        {"topic": "nutrition", "participants": {"m": 8}, "days": 1},
    ]
    mutations = [create_mutation("training", training_data(occurred_on=DAY, **SITE, **extra)) for extra in rows]
    results = push(client, chw, mutations)
    assert {result["status"] for result in results} == {"applied"}, results
    return mutations


def aggregate(client: FlaskClient, headers: dict[str, str], query: str) -> Any:
    return client.get(f"/api/v1/aggregates?indicator=people_trained&{query}", headers=headers)


# --- push and pull --------------------------------------------------------------------------------


def test_a_training_is_pushed_stored_and_pulled_back(client: FlaskClient, session: Session, chw: EnrolledDevice,
                                                     trainings: list[dict[str, Any]]) -> None:
    first = trainings[0]
    record = session.get(Record, first["id"])
    assert record is not None and record.entity == "training" and record.population_group is None
    assert record.data["participants"] == {"f": 12, "m": 7}

    response = client.get("/api/v1/sync/pull?stream=records&limit=500", headers=chw.headers)
    assert response.status_code == 200
    changes = {change["id"]: change for change in response.get_json()["changes"]}
    pulled = changes[first["id"]]
    assert pulled["entity"] == "training"
    sent = {key: value for key, value in first["data"].items() if key != "recorded_at"}
    assert pulled["data"] == {**sent, "recorded_at": pulled["data"]["recorded_at"], "status": "active",
                              "clock_suspect": False}


def test_a_training_is_corrected_and_voided_and_counted_accordingly(client: FlaskClient, session: Session,
                                                                    chw: EnrolledDevice, coordinator) -> None:
    mutation = create_mutation("training", training_data(occurred_on=DAY, **SITE))
    push(client, chw, [mutation])
    correction = correct_mutation(mutation["id"], 1, {"participants": {"f": 30}}, entity="training")
    assert push(client, chw, [correction])[0]["status"] == "applied"
    assert aggregate(client, coordinator, "").get_json()["total"] == 30
    void = {**correct_mutation(mutation["id"], 2, {}, entity="training"), "kind": "void", "reason": "duplicate"}
    void.pop("data", None)
    assert push(client, chw, [void])[0]["status"] == "applied"
    assert aggregate(client, coordinator, "").get_json()["total"] == 0
    assert verify.verify(session) == []


@pytest.mark.parametrize(("data", "field"), [
    ({"population_group": "refugee"}, "population_group"),  # does not apply: an unknown field
    ({"topic": "cooking"}, "topic"),
    ({"participant_type": "minister"}, "participant_type"),
    ({"participants": {"f": 0}}, "participants"),  # total 1..500
    ({"participants": {"f": 501}}, "participants"),
    ({"participants": {"f": {"18-59": 3}}}, "participants.f"),  # counts by sex only
    ({"participants": {"w": 3}}, "participants.w"),
    ({"days": 61}, "days"),
    ({"days": "3"}, "days"),
    ({"title": "x" * 201}, "title"),
])
def test_a_bad_training_is_rejected_naming_the_field(client: FlaskClient, chw: EnrolledDevice,
                                                     data: dict[str, Any], field: str) -> None:
    (result,) = push(client, chw, [create_mutation("training", training_data(occurred_on=DAY, **SITE, **data))])
    assert result["status"] == "rejected"
    assert f"data.{field}" in result["errors"], result


# --- aggregates -----------------------------------------------------------------------------------


def test_people_trained_sums_the_participants_by_topic_participant_type_and_sex(
        client: FlaskClient, coordinator, trainings) -> None:
    assert aggregate(client, coordinator, "").get_json()["total"] == 19 + 19 + 5 + 8
    by_sex = aggregate(client, coordinator, "group_by=sex").get_json()["rows"]
    assert {row["sex"]: row["value"] for row in by_sex} == {"f": 12 + 12 + 2, "m": 7 + 7 + 8, "x": 3}
    rows = aggregate(client, coordinator, "group_by=topic,participant_type").get_json()["rows"]
    assert {(row["topic"], row["participant_type"]): row["value"] for row in rows} == {
        ("mhpss", "moh_staff"): 19, ("srh", "moh_staff"): 19, ("mhpss", "volunteer"): 5, ("nutrition", "moh_staff"): 8}
    statement = aggregate(client, coordinator, "participant_type=moh_staff&topic=srh,mhpss&group_by=area")
    assert statement.get_json()["rows"] == [{"area": "ly-tripoli", "area_name": "Tripoli", "value": 38}]
    # A date range cutting the month reads the records themselves, and agrees.
    part = aggregate(client, coordinator, "from=2016-05-02&to=2016-05-20&group_by=sex&topic=srh").get_json()
    assert {row["sex"]: row["value"] for row in part["rows"]} == {"f": 12, "m": 7}


@pytest.mark.parametrize("dimension", ["population_group", "age_band"])
def test_a_dimension_that_does_not_apply_to_trainings_is_422_naming_it(client: FlaskClient, coordinator,
                                                                       dimension: str) -> None:
    message = f"Dimension {dimension} is not available for indicator people_trained."
    grouped = aggregate(client, coordinator, f"group_by={dimension}")
    assert grouped.status_code == 422
    assert grouped.get_json()["error"]["fields"] == {"group_by": [message]}
    value = {"population_group": "refugee", "age_band": "18-59"}[dimension]
    filtered = aggregate(client, coordinator, f"{dimension}={value}")
    assert filtered.status_code == 422
    assert filtered.get_json()["error"]["fields"] == {dimension: [message]}


def test_training_dimensions_do_not_apply_to_other_indicators_and_codes_are_checked(client: FlaskClient,
                                                                                      coordinator) -> None:
    response = client.get("/api/v1/aggregates?indicator=people_reached_by_chws&group_by=topic", headers=coordinator)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "group_by": ["Dimension topic is not available for indicator people_reached_by_chws."]}
    response = aggregate(client, coordinator, "topic=cooking")
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"topic": ["Unknown value: cooking."]}


def test_hxl_of_people_trained_validates_and_tags_the_training_dimensions(client: FlaskClient, coordinator,
                                                                          trainings) -> None:
    response = aggregate(client, coordinator, "group_by=topic,participant_type,sex&format=hxl")
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    header, tags, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["indicator", "country", "topic", "participant_type", "sex", "value"]
    assert tags == ["#indicator+code", "#country+code", "#meta+topic", "#meta+participant", "#meta+sex",
                    "#indicator+value+num"]
    assert ["people_trained", "LY", "nutrition", "moh_staff", "m", "8"] in rows
    report = hxl.validate(hxl.data(hxl.input.make_input(io.BytesIO(text.encode("utf-8")))))
    assert report["is_valid"], report


# --- line lists -----------------------------------------------------------------------------------


def test_the_line_list_has_the_training_columns_and_filters(client: FlaskClient, coordinator, trainings) -> None:
    response = client.get("/api/v1/records?indicator=people_trained&topic=srh", headers=coordinator)
    assert response.status_code == 200, response.get_data(as_text=True)
    (row,) = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert row["id"] == trainings[1]["id"]
    assert (row["entity"], row["population_group"], row["topic"], row["participant_type"]) == (
        "training", None, "srh", "moh_staff")
    assert (row["participants"], row["days"], row["title"]) == ({"f": 12, "m": 7}, 3, "Clinical management of SRH")
    assert row["sex"] is None and row["reached"] is None

    listed = client.get("/api/v1/records?format=csv&participant_type=volunteer", headers=coordinator)
    assert listed.status_code == 200
    (csv_row,) = list(csv.DictReader(io.StringIO(listed.get_data(as_text=True).lstrip("\ufeff"))))
    assert json.loads(csv_row["participants"]) == {"f": 2, "x": 3}


def test_an_outreach_topic_is_not_the_training_topic(client: FlaskClient, session: Session, coordinator) -> None:
    # An outreach's topic is free text: a line-list filter on the training dimension must not match it.
    outreach = make_device(session, team_id="ly-chw-tripoli")
    session.commit()
    from tests.factories import outreach_data

    push(client, outreach, [create_mutation("outreach", outreach_data(occurred_on=DAY, topic="srh", **SITE))])
    response = client.get("/api/v1/records?topic=srh", headers=coordinator)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ""


# --- dashboard ------------------------------------------------------------------------------------


def test_the_dashboard_labels_people_trained_in_english_and_arabic(client: FlaskClient) -> None:
    english = client.get("/dashboard?lang=en").get_data(as_text=True)
    assert '<data value="Health workers and volunteers trained">Health workers and volunteers trained</data>' in english
    arabic = client.get("/dashboard?lang=ar").get_data(as_text=True)
    assert ('<data value="Health workers and volunteers trained">العاملون الصحيون والمتطوعون الذين تم تدريبهم</data>'
            in arabic)
