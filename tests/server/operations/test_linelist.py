"""GET /api/v1/records: line lists of the pseudonymous records in scope (api.md "Additions (v1.1)")."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date, datetime
from itertools import islice
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Area, Record, Site, Team
from server.operations import linelist
from server.operations.reference import set_team_sites, upsert
from server.persistence.seq import next_seq
from sync.domain import Entity, RecordStatus
from tests.bulk_records import load_records, make_state, synthetic_states, write_record
from tests.factories import auth_headers, make_device, make_team, make_token, make_user

RECORDS = 300


@pytest.fixture
def records(session: Session) -> None:
    load_records(session, islice(synthetic_states(session, RECORDS), RECORDS))


@pytest.fixture
def tunisia(session: Session) -> None:
    make_team(session)
    upsert(session, Area, "tn-tunis", id="tn-tunis", country_code="TN", name="Tunis", pcode=None)
    upsert(session, Site, "tn-mp-tunis", id="tn-mp-tunis", area_id="tn-tunis", name="Tunis point",
           site_type="mobile_point", active=True)
    set_team_sites(session, make_team(session), ["tn-mp-tunis"])
    state = make_state(Entity.CONSULTATION, "tn-mmt-tunis", "tn-mp-tunis", date(2016, 1, 5),
                       {"population_group": "refugee", "sex": "f", "age_band": "18-59", "visit": "new",
                        "service": "general", "referral": False})
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))


@pytest.fixture
def coordinator(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="admin", countries=())))


def _jsonl(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def _expected(session: Session, **where: Any) -> list[str]:
    """Ids of LY records matching, computed from the table in Python (in seq order)."""
    rows = session.execute(select(Record, Team.country_code, Site.area_id)
                           .join(Team, Team.id == Record.team_id).join(Site, Site.id == Record.site_id)
                           .order_by(Record.seq)).all()
    out = []
    for record, country, area in rows:
        facts = {"country": country, "area": area, "population_group": record.population_group,
                 "sex": record.data.get("sex"), "entity": record.entity, "month": record.occurred_on.isoformat()[:7],
                 "occurred_on": record.occurred_on}
        if all(check(facts) for check in where.values()):
            out.append(record.id)
    return out


def test_lists_every_record_of_the_coordinators_countries_in_seq_order(client, session, coordinator, records,
                                                                       tunisia) -> None:
    listed = _jsonl(client.get("/api/v1/records", headers=coordinator))
    assert [row["id"] for row in listed] == _expected(session, country=lambda f: f["country"] == "LY")
    assert len(listed) == RECORDS
    seqs = [row["seq"] for row in listed]
    assert seqs == sorted(seqs)
    assert list(listed[0]) == list(linelist.COLUMNS)
    stored = session.get(Record, listed[0]["id"])
    assert stored is not None
    first = listed[0]
    assert (first["entity"], first["version"], first["status"], first["team"], first["site"], first["occurred_on"],
            first["population_group"], first["beneficiary_ref"]) == (
        stored.entity, stored.version, stored.status, stored.team_id, stored.site_id,
        stored.occurred_on.isoformat(), stored.population_group, stored.beneficiary_ref)
    assert any(row["beneficiary_ref"] for row in listed), "pseudonymous refs are listed as the records hold them"
    outreach = next(row for row in listed if row["entity"] == "outreach")
    assert isinstance(outreach["reached"], dict)


def test_filters_are_the_aggregates(client, session, coordinator, records) -> None:
    listed = _jsonl(client.get("/api/v1/records?population_group=refugee,migrant&sex=f&month=2016-03,2017-07",
                               headers=coordinator))
    assert [row["id"] for row in listed] == _expected(
        session, group=lambda f: f["population_group"] in ("refugee", "migrant"), sex=lambda f: f["sex"] == "f",
        month=lambda f: f["month"] in ("2016-03", "2017-07"))
    listed = _jsonl(client.get("/api/v1/records?area=ly-tripoli&from=2016-02-10&to=2016-11-03", headers=coordinator))
    expected = _expected(session, area=lambda f: f["area"] == "ly-tripoli",
                         day=lambda f: date(2016, 2, 10) <= f["occurred_on"] <= date(2016, 11, 3))
    assert [row["id"] for row in listed] == expected and expected


def test_an_indicator_lists_the_records_it_counts(client, coordinator, records) -> None:
    listed = _jsonl(client.get("/api/v1/records?indicator=health_consultations&year=2016", headers=coordinator))
    assert {row["entity"] for row in listed} == {"consultation"}
    total = client.get("/api/v1/aggregates?indicator=health_consultations&year=2016",
                       headers=coordinator).get_json()["total"]
    assert len([row for row in listed if row["status"] == "active"]) == total


@pytest.mark.parametrize(("query", "field", "message"), [
    ("population_group=martian", "population_group", "Unknown value: martian."),
    ("colour=blue", "colour", "Unknown dimension: colour."),
    ("indicator=nope", "indicator", "Unknown indicator: nope."),
    ("indicator=health_consultations&item=blanket", "item",
     "Dimension item is not available for indicator health_consultations."),
    ("month=2016-13", "month", "Unknown value: 2016-13."),
    ("from=2016-05-01&to=2016-04-01", "from", "Must not be after to."),
    ("since=not-a-cursor", "since", "Not a valid cursor for this list."),
])
def test_unknown_values_are_422_naming_them(client, coordinator, query, field, message) -> None:
    response = client.get(f"/api/v1/records?{query}", headers=coordinator)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"][field] == [message]


def test_format_must_be_known(client, coordinator) -> None:
    response = client.get("/api/v1/records?format=pdf", headers=coordinator)
    assert response.status_code == 422
    assert "format" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("query", ["country=TN", "country=LY,TN", "area=tn-tunis", "team=tn-mmt-tunis"])
def test_outside_the_coordinators_countries_is_403(client, coordinator, tunisia, query) -> None:
    response = client.get(f"/api/v1/records?{query}", headers=coordinator)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "out_of_scope"


def test_admins_see_every_country(client, admin, records, tunisia) -> None:
    listed = _jsonl(client.get("/api/v1/records", headers=admin))
    assert {row["country"] for row in listed} == {"LY", "TN"}


def test_only_coordinators_and_admins(client, session) -> None:
    assert client.get("/api/v1/records").status_code == 401
    worker = auth_headers(make_token(session, make_user(session, role="field_worker", team_id="ly-mmt-tripoli")))
    assert client.get("/api/v1/records", headers=worker).status_code == 403
    assert client.get("/api/v1/records", headers=make_device(session).headers).status_code == 403


def test_since_lists_only_what_was_created_or_changed_after(client, session, coordinator, records) -> None:
    first = client.get("/api/v1/records", headers=coordinator)
    cursor = first.headers["X-Next-Cursor"]
    assert len(_jsonl(first)) == RECORDS
    assert _jsonl(client.get(f"/api/v1/records?since={cursor}", headers=coordinator)) == []

    # A new record, and a void of an old one (a new version, hence a new seq).
    state = make_state(Entity.CONSULTATION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 6, 1),
                       {"population_group": "idp", "sex": "m", "age_band": "5-17", "visit": "new",
                        "service": "general", "referral": True, "beneficiary_ref": "p-new"})
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))
    old = session.execute(select(Record).where(Record.entity == "consultation").order_by(Record.seq)).scalars().first()
    assert old is not None
    old.status, old.version, old.seq = RecordStatus.VOIDED.value, old.version + 1, next_seq(session)
    session.flush()

    second = client.get(f"/api/v1/records?since={cursor}", headers=coordinator)
    listed = _jsonl(second)
    assert [(row["id"], row["status"]) for row in listed] == [(state.id, "active"), (old.id, "voided")]
    assert listed[0]["beneficiary_ref"] == "p-new" and listed[0]["referral"] is True
    assert second.headers["X-Next-Cursor"] != cursor
    assert _jsonl(client.get(f"/api/v1/records?since={second.headers['X-Next-Cursor']}", headers=coordinator)) == []


def test_csv_and_xlsx_hold_the_same_rows_as_jsonl(client, coordinator, records) -> None:
    listed = _jsonl(client.get("/api/v1/records?population_group=refugee", headers=coordinator))
    assert listed

    def flat(row: dict[str, Any]) -> list[str]:
        return ["" if row[c] is None else str(linelist._flat(row[c])) for c in linelist.COLUMNS]

    response = client.get("/api/v1/records?population_group=refugee&format=csv&bom=1", headers=coordinator)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="records.csv"'
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(linelist.COLUMNS)
    assert rows[1:] == [flat(row) for row in listed]

    response = client.get("/api/v1/records?population_group=refugee&format=xlsx", headers=coordinator)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="records.xlsx"'
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    sheet_rows = [list(row) for row in workbook.worksheets[0].values]
    assert sheet_rows[0] == list(linelist.COLUMNS)
    assert sheet_rows[1:] == [typed(row) for row in listed]


def typed(row: dict[str, Any]) -> list[Any]:
    """A JSON line as Excel holds it (issue 30 §7): dates and UTC times as dates, the rest as is."""
    cells = []
    for name in linelist.COLUMNS:
        value = row[name]
        if name == "occurred_on":
            value = datetime.fromisoformat(value)
        elif name in ("recorded_at", "received_at"):
            value = datetime.fromisoformat(value.removesuffix("Z"))
        elif isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"), sort_keys=True)
        cells.append(value)
    return cells


def test_xlsx_cells_are_dates_numbers_and_booleans_and_times_are_utc(client, session, coordinator) -> None:
    state = make_state(Entity.CONSULTATION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 1, 5),
                       {"population_group": "refugee", "sex": "f", "age_years": 31, "age_band": "18-59",
                        "visit": "new", "service": "general", "referral": True})
    # ODK Collect sends its local time with its offset.
    state = dataclasses.replace(state, seq=next_seq(session), recorded_at="2016-01-05T11:30:00.000+02:00")
    write_record(session, None, state)
    session.commit()

    [line] = _jsonl(client.get("/api/v1/records", headers=coordinator))
    assert (line["recorded_at"], line["recorded_at_offset_minutes"]) == ("2016-01-05T09:30:00Z", 120)
    assert line["received_at"].endswith("Z")

    body = client.get("/api/v1/records?format=xlsx", headers=coordinator).get_data()
    header, row = [list(r) for r in openpyxl.load_workbook(io.BytesIO(body)).worksheets[0].iter_rows()]
    cell = {h.value: c for h, c in zip(header, row, strict=True)}
    assert cell["occurred_on"].value == datetime(2016, 1, 5) and cell["occurred_on"].is_date
    assert cell["recorded_at"].value == datetime(2016, 1, 5, 9, 30) and cell["recorded_at"].is_date
    assert cell["received_at"].is_date
    assert cell["referral"].value is True and cell["referral"].data_type == "b"
    assert cell["clock_suspect"].value is False
    assert cell["age_years"].value == 31 and cell["version"].data_type == "n"
    assert cell["recorded_at_offset_minutes"].value == 120


def test_an_empty_list_is_a_header_only(client, coordinator) -> None:
    assert client.get("/api/v1/records?month=1999-01", headers=coordinator).get_data() == b""
    csv_body = client.get("/api/v1/records?month=1999-01&format=csv", headers=coordinator).get_data(as_text=True)
    assert list(csv.reader(io.StringIO(csv_body))) == [list(linelist.COLUMNS)]
    xlsx = client.get("/api/v1/records?month=1999-01&format=xlsx", headers=coordinator).get_data()
    assert [list(r) for r in openpyxl.load_workbook(io.BytesIO(xlsx)).worksheets[0].values] == [list(linelist.COLUMNS)]


def test_pages_are_read_by_keyset(client, session, coordinator, records, monkeypatch) -> None:
    # A small window proves the window boundaries lose and repeat nothing.
    monkeypatch.setattr(linelist, "WINDOW", 7)
    listed = _jsonl(client.get("/api/v1/records", headers=coordinator))
    assert [row["id"] for row in listed] == _expected(session)


def test_openapi_documents_records(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/records"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"format", "since", "from", "to", "indicator", "bom"} <= names
