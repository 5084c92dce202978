"""Record data rules of docs/domain.md, through schemas.records.validate_record."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schemas.records import validate_record
from tests.sync.test_push import consultation, distribution, outreach

TODAY = date(2026, 3, 2)


def errors_of(entity: str, data: dict[str, Any]) -> dict[str, list[str]]:
    return validate_record(entity, data, TODAY)[1]


def clean_of(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    clean, errors = validate_record(entity, data, TODAY)
    assert errors == {}
    return clean


def test_valid_consultation_comes_back_clean_and_json_ready() -> None:
    clean = clean_of("consultation", consultation(recorded_at="2026-03-01T09:00:00Z", beneficiary_ref=None))
    assert clean == {
        "site_id": "site-a",
        "team_id": "team-tripoli",
        "occurred_on": "2026-03-01",
        "recorded_at": "2026-03-01T09:00:00+00:00",
        "population_group": "idp",
        "sex": "f",
        "age_band": "18-59",
        "visit": "new",
        "service": "general",
        "referral": False,
    }


@pytest.mark.parametrize(
    ("years", "band"), [(0, "0-4"), (4, "0-4"), (5, "5-17"), (17, "5-17"), (18, "18-59"), (59, "18-59"), (60, "60+")]
)
def test_age_years_alone_derives_the_band(years: int, band: str) -> None:
    data = distribution(age_years=years)
    del data["age_band"]
    assert clean_of("distribution", data) == {**data, "age_band": band, "age_years": years}


def test_age_band_and_years_together_must_agree() -> None:
    assert clean_of("consultation", consultation(age_years=30))["age_band"] == "18-59"
    assert list(errors_of("consultation", consultation(age_years=70))) == ["age_years"]


def test_age_is_required_in_one_form() -> None:
    data = consultation()
    del data["age_band"]
    assert errors_of("consultation", data) == {"age_band": ["One of age_band or age_years is required."]}


def test_invalid_age_years_reports_only_itself() -> None:
    data = consultation(age_years=-1)
    del data["age_band"]
    assert list(errors_of("consultation", data)) == ["age_years"]


@pytest.mark.parametrize(
    ("entity", "overrides", "field"),
    [
        ("consultation", {"population_group": "tourist"}, "population_group"),
        ("consultation", {"sex": "F"}, "sex"),
        ("consultation", {"age_band": "18-60"}, "age_band"),
        ("consultation", {"visit": "first"}, "visit"),
        ("consultation", {"referral": "yes"}, "referral"),
        ("consultation", {"referral": 1}, "referral"),
        ("consultation", {"beneficiary_ref": "x" * 65}, "beneficiary_ref"),
        ("consultation", {"beneficiary_ref": ""}, "beneficiary_ref"),
        ("consultation", {"site_id": 12}, "site_id"),
        ("consultation", {"occurred_on": "1999-12-31"}, "occurred_on"),
        ("consultation", {"occurred_on": "2026-03-04"}, "occurred_on"),
        ("consultation", {"occurred_on": "03/01/2026"}, "occurred_on"),
        ("consultation", {"recorded_at": "2026-03-01"}, "recorded_at"),
        ("consultation", {"recorded_at": "yesterday"}, "recorded_at"),
        ("consultation", {"name": "Amina"}, "name"),
        ("distribution", {"quantity": 0}, "quantity"),
        ("distribution", {"quantity": 10001}, "quantity"),
        ("distribution", {"quantity": "2"}, "quantity"),
        ("distribution", {"quantity": 2.5}, "quantity"),
        ("distribution", {"quantity": True}, "quantity"),
        ("distribution", {"household_size": 51}, "household_size"),
        ("distribution", {"household_size": 0}, "household_size"),
        ("outreach", {"activity": "party"}, "activity"),
        ("outreach", {"topic": "t" * 201}, "topic"),
        ("outreach", {"reached": {"f": {"18-59": 0}}}, "reached"),
        ("outreach", {"reached": {"f": {"18-59": 5001}}}, "reached"),
        ("outreach", {"reached": {"f": {"18-59": 2500}, "m": {"18-59": 2501}}}, "reached"),
        ("outreach", {"reached": [1, 2]}, "reached"),
        ("outreach", {"reached": {"f": {"18-59": -1}}}, "reached.f.18-59"),
        ("outreach", {"reached": {"f": {"18-59": 1.5}}}, "reached.f.18-59"),
        ("outreach", {"reached": {"f": {"adult": 3}}}, "reached.f.adult"),
        ("outreach", {"reached": {"q": {"18-59": 3}}}, "reached.q"),
        ("outreach", {"reached": {"f": 3}}, "reached.f"),
    ],
)
def test_field_rules(entity: str, overrides: dict[str, Any], field: str) -> None:
    data = {"consultation": consultation, "distribution": distribution, "outreach": outreach}[entity](**overrides)
    assert list(errors_of(entity, data)) == [field]


def test_enum_message_lists_the_codes() -> None:
    assert errors_of("consultation", consultation(sex="q")) == {"sex": ["Must be one of: f, m, x."]}


def test_unknown_fields_are_named() -> None:
    assert errors_of("outreach", outreach(name="Amina", phone="1")) == {
        "name": ["Unknown field."],
        "phone": ["Unknown field."],
    }


@pytest.mark.parametrize("field", ["site_id", "team_id", "occurred_on", "recorded_at", "population_group"])
def test_common_fields_are_required(field: str) -> None:
    data = outreach()
    del data[field]
    assert errors_of("outreach", data) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize(
    ("entity", "field"),
    [("consultation", "visit"), ("consultation", "service"), ("consultation", "referral"),
     ("distribution", "item_code"), ("distribution", "quantity"), ("outreach", "activity"), ("outreach", "reached")],
)  # fmt: skip
def test_entity_fields_are_required(entity: str, field: str) -> None:
    data = {"consultation": consultation, "distribution": distribution, "outreach": outreach}[entity]()
    del data[field]
    assert errors_of(entity, data) == {field: ["Missing data for required field."]}


def test_occurred_on_range_is_inclusive_of_tomorrow_and_2000() -> None:
    assert clean_of("consultation", consultation(occurred_on="2026-03-03"))["occurred_on"] == "2026-03-03"
    assert clean_of("consultation", consultation(occurred_on="2000-01-01"))["occurred_on"] == "2000-01-01"


def test_optional_fields_may_be_absent_or_given() -> None:
    clean = clean_of("distribution", distribution(household_size=6, beneficiary_ref="HH-0042"))
    assert (clean["household_size"], clean["beneficiary_ref"]) == (6, "HH-0042")
    assert clean_of("outreach", outreach(topic="cholera"))["topic"] == "cholera"


def test_reached_counts_are_kept_as_sent() -> None:
    reached = {"f": {"18-59": 12, "5-17": 3}, "x": {"60+": 1}}
    assert clean_of("outreach", outreach(reached=reached))["reached"] == reached


def test_several_errors_are_reported_at_once() -> None:
    data = consultation(sex="q", referral="no")
    del data["age_band"]
    assert set(errors_of("consultation", data)) == {"sex", "referral", "age_band"}


def test_unknown_entity_and_non_object_data() -> None:
    assert list(validate_record("visit", {}, TODAY)[1]) == ["entity"]
    assert validate_record("consultation", [1], TODAY)[1] == {"_schema": ["Must be an object."]}
