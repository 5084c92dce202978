"""CSV and HXL exports neutralise spreadsheet formulas (OWASP "CSV injection") without touching numbers."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from server.aggregation.export import spreadsheet_cell
from server.models import Area
from server.persistence.seq import next_seq
from sync.domain import Entity
from tests.bulk_records import make_state, write_record
from tests.factories import auth_headers, make_token, make_user

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_like_text_gets_a_leading_quote(text: str) -> None:
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-3, 0, 12, 2.5, -0.5, "-3", "+4", "-1.5e3", "12"])
def test_numbers_stay_numbers(value: object) -> None:
    assert spreadsheet_cell(value) == str(value)


@pytest.mark.parametrize("text", ["Tripoli", "a=b", "x-y", "", "Benghazi @ night"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert spreadsheet_cell(text) == text
    assert spreadsheet_cell(None) == ""


@pytest.mark.parametrize("fmt", ["csv", "hxl"])
def test_an_area_named_like_a_formula_is_exported_as_text(client, session: Session, fmt: str) -> None:
    state = make_state(Entity.CONSULTATION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 1, 5),
                       {"population_group": "refugee", "sex": "f", "age_band": "18-59", "visit": "new",
                        "service": "general", "referral": False})
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))
    session.execute(update(Area).where(Area.id == "ly-tripoli").values(name="=HYPERLINK(\"http://evil\",\"Tripoli\")"))
    session.flush()
    headers = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))

    response = client.get(f"/api/v1/aggregates?indicator=health_consultations&group_by=area&format={fmt}",
                          headers=headers)

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    data = rows[2:] if fmt == "hxl" else rows[1:]
    # HXL leads with the indicator and country columns; the area's columns and the value end each row.
    assert [row[-3:] for row in data] == [["ly-tripoli", "'=HYPERLINK(\"http://evil\",\"Tripoli\")", "1"]]


def test_line_list_csv_and_xlsx_cells_are_neutralised() -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from server.operations.linelist import COLUMNS, csv_chunks, xlsx_chunks

    record = {name: None for name in COLUMNS} | {"topic": "=HYPERLINK(\"http://x\")", "beneficiary_ref": "@SUM(1)"}
    text = b"".join(csv_chunks(iter([record]))).decode()
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text
    sheet = load_workbook(BytesIO(b"".join(xlsx_chunks(iter([record]))))).worksheets[0]
    values = [cell.value for cell in sheet[2]]
    assert "'=HYPERLINK(\"http://x\")" in values and "'@SUM(1)" in values
    assert all(cell.data_type != "f" for cell in sheet[2])
