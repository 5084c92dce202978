"""HXL and CSV exports of /api/v1/aggregates: libhxl validates them, values read back equal the JSON,
and the CSV downloads carry a file name and, on request, a UTF-8 byte-order mark (issue 16)."""

from __future__ import annotations

import csv
import io
from itertools import islice
from typing import Any

import hxl
import pytest
from sqlalchemy.orm import Session

from server.models import Area
from tests.bulk_records import load_records, synthetic_states
from tests.factories import auth_headers, make_token, make_user

# Records are synthetic (tests/bulk_records.py), over 2016-2018, at every demo team's sites.
RECORDS = 400


@pytest.fixture
def records(session: Session) -> None:
    load_records(session, islice(synthetic_states(session, RECORDS), RECORDS))
    # An Arabic name, as Libyan reference data has: the BOM test reads it back.
    tripoli = session.get(Area, "ly-tripoli")
    assert tripoli is not None
    tripoli.name = "طرابلس"
    session.flush()


@pytest.fixture
def coordinator(session: Session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))


def _validate(text: str) -> dict[str, Any]:
    source = hxl.data(hxl.input.make_input(io.BytesIO(text.encode("utf-8"))))
    return hxl.validate(source)


QUERIES = [
    "indicator=health_consultations&group_by=area,month,population_group",
    "indicator=health_consultations&group_by=site,sex,age_band,service,visit&from=2016-01-01&to=2016-12-31",
    "indicator=people_consulted&group_by=team,quarter,population_group",
    "indicator=hygiene_kits_distributed&group_by=year,item,site_type",
    "indicator=people_reached_by_chws&group_by=country,activity,sex,age_band",
    "indicator=health_consultations&sex=f&population_group=refugee&group_by=area",
    "indicator=health_consultations",
]


@pytest.mark.parametrize("query", QUERIES)
def test_hxl_validates_with_the_default_schema_and_reads_back_as_the_json(client, coordinator, records,
                                                                           query) -> None:
    response = client.get(f"/api/v1/aggregates?{query}&format=hxl", headers=coordinator)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)

    report = _validate(text)
    assert report["stats"]["error"] == 0 and report["stats"]["warning"] == 0, report["issues"]
    # What is left is the default schema's advice on the data itself (a month far above the others,
    # a rare place name), never on the file's structure or datatypes.
    advice = {issue["description"] for issue in report["issues"]}
    assert advice <= {"Possible numeric outlier", "Rare value: possible spelling error"}, report["issues"]

    # The JSON of the same query grouped by country too (an HXL row always names its country).
    group_by = next((p.split("=", 1)[1] for p in query.split("&") if p.startswith("group_by=")), "")
    json_query = query.replace(f"group_by={group_by}", "") + "&group_by=" + ",".join(
        ["country", *[g for g in group_by.split(",") if g and g != "country"]])
    expected = client.get(f"/api/v1/aggregates?{json_query}", headers=coordinator).get_json()
    assert expected["rows"], "the query should have rows"

    dataset = hxl.data(hxl.input.make_input(io.BytesIO(text.encode("utf-8"))))
    tags = [column.display_tag for column in dataset.columns]
    assert tags[:2] == ["#indicator+code", "#country+code"]
    assert not any(tag.startswith("#population") for tag in tags)
    headers = [column.header for column in dataset.columns]
    read_back = []
    for row in dataset:
        assert row.get("#indicator+code") == expected["indicator"]
        record = dict(zip(headers, row.values, strict=True))
        del record["indicator"]
        record["value"] = int(record["value"])
        if "year" in record:
            record["year"] = int(record["year"])
        read_back.append(record)
    assert read_back == expected["rows"]
    assert sum(row["value"] for row in read_back) == expected["total"] or "people" in query


def test_hxl_tags_one_sex_and_one_population_type_on_the_value_column(client, coordinator, records) -> None:
    response = client.get("/api/v1/aggregates?indicator=health_consultations&sex=m&population_group=idp"
                          "&group_by=month&format=hxl", headers=coordinator)
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert lines[1] == ["#indicator+code", "#country+code", "#date+month", "#indicator+value+num+m+idps"]


def test_csv_and_hxl_are_attachments_with_a_file_name(client, coordinator, records) -> None:
    base = "/api/v1/aggregates?indicator=health_consultations&group_by=area&from=2016-01-01&to=2016-12-31"
    csv_response = client.get(base + "&format=csv", headers=coordinator)
    assert csv_response.headers["Content-Disposition"] == (
        'attachment; filename="health_consultations_2016-01-01_2016-12-31.csv"')
    assert csv_response.headers["Content-Type"] == "text/csv; charset=utf-8"
    hxl_response = client.get(base + "&format=hxl", headers=coordinator)
    assert hxl_response.headers["Content-Disposition"] == (
        'attachment; filename="health_consultations_2016-01-01_2016-12-31.hxl.csv"')
    # Without bom=1 nothing changes for tools that read plain UTF-8.
    assert not csv_response.get_data().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("output", ["csv", "hxl"])
def test_bom_starts_the_file_with_a_utf8_byte_order_mark(client, coordinator, records, output) -> None:
    response = client.get(f"/api/v1/aggregates?indicator=health_consultations&group_by=area&format={output}&bom=1",
                          headers=coordinator)
    assert response.status_code == 200
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    # What Excel does with a BOM: decode as UTF-8 and drop the mark.
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert "طرابلس" in {row["area_name"] for row in rows}


def test_bom_must_be_a_boolean(client, coordinator) -> None:
    response = client.get("/api/v1/aggregates?indicator=health_consultations&format=csv&bom=maybe",
                          headers=coordinator)
    assert response.status_code == 422
    assert "bom" in response.get_json()["error"]["fields"]


def test_bom_is_documented_in_openapi(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    parameters = spec["paths"]["/api/v1/aggregates"]["get"]["parameters"]
    assert "bom" in {parameter["name"] for parameter in parameters}
