"""Line lists: the pseudonymous records in scope, one row per record, streamed (api.md v1.1 `/api/v1/records`).

Memory stays constant however many records match: rows are read in windows of `WINDOW` records
(`lo < seq <= hi`, hi the seq WINDOW records further on, ordered by seq), selected as plain
columns (no ORM identity map), and each window is written out and dropped before the next is read.
A window, not `seq > lo ... LIMIT n`: with a country or team filter both engines may walk the
(team_id, seq) index and sort, so a LIMIT page would read every remaining row of the team each
time (quadratic); a bounded seq range costs the same whichever index the planner picks, at most
WINDOW rows per query. XLSX goes through openpyxl's write-only mode, which spools the sheet to a
temporary file; the finished workbook is then streamed from disk.

Incremental reading: a line list covers the records with `since < seq <= high`, where `high` is
the settled seq when the request started: every change with a seq up to it had committed (or
never will) by then (server/persistence/seq.py, the same horizon as the pull), so the windows read later miss none:
a client that asks again with `since=<X-Next-Cursor>` gets exactly the records created or changed
after the first list, each at its latest version (a changed record gets a new seq). Voided records
stay in the list with `status: voided`, so an incremental reader learns of the void.

Filters are the aggregates' (server.aggregation.query.validate_filters): place, time, population
group, and the person/entity dimensions, which are read from the record's data.

Times are UTC with `Z` (`recorded_at` as the device sent it, converted; the device's offset in
`recorded_at_offset_minutes`). XLSX cells are typed for Excel (issue 30 §7): dates and times as
dates (UTC), counts as numbers, booleans as booleans; only `reached` (an object) is JSON text.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, or_, select
from sqlalchemy.orm import Session, scoped_session

from server.aggregation.export import spreadsheet_cell
from server.aggregation.indicators import Indicator
from server.models import Item, Record, Site, Team
from server.persistence.seq import current_seq
from server.persistence.timeutil import isoformat_z, utc_z_and_offset
from server.web.transactions import reading_only
from sync.record_types import DATA_DIMENSIONS, RECORD_TYPES, line_list_fields

WINDOW = 2000
FORMATS = ("jsonl", "csv", "xlsx")
MIMETYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
XLSX_MAX_ROWS = 1_048_576  # Excel's rows per sheet, the header row included

# The record's own data fields, in column order (every record type's, sync/record_types.py); `reached`
# (outreach) and `participants` (training) are JSON objects.
DATA_FIELDS = line_list_fields()
COLUMNS = ("seq", "id", "entity", "version", "status", "country", "area", "site", "site_type", "team",
           "occurred_on", "recorded_at", "recorded_at_offset_minutes", "population_group", "beneficiary_ref",
           *DATA_FIELDS,
           "clock_suspect", "received_at")

# Filters read from the record's data: the data field, and the entities whose records have it as
# that dimension (an outreach's free-text `topic` is not a training's `topic` code).
_DATA_DIMENSIONS = {name: (dim.field, tuple(rt.entity.value for rt in RECORD_TYPES.values()
                                            if dim in rt.data_dimensions))
                    for name, dim in DATA_DIMENSIONS.items() if name != "population_group"}


@dataclass(frozen=True)
class LineListQuery:
    spec: Indicator | None
    filters: Mapping[str, Sequence[Any]]
    date_from: date | None
    date_to: date | None
    since: int  # records with a seq above this ...
    high: int  # ... and up to this one


def start(session: Session, spec: Indicator | None, filters: Mapping[str, Sequence[Any]], date_from: date | None,
          date_to: date | None, since: int) -> LineListQuery:
    """Fix the list's upper seq now, before any row is streamed (see the module's docstring)."""
    return LineListQuery(spec, filters, date_from, date_to, since, current_seq(session))


def _month_range(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def _quarter_range(quarter: str) -> tuple[date, date]:
    year, number = int(quarter[:4]), int(quarter[-1])
    first = date(year, 3 * number - 2, 1)
    last_month = 3 * number
    return first, date(year, last_month, calendar.monthrange(year, last_month)[1])


def _conditions(query: LineListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    spec = query.spec
    if spec is not None:
        conditions.append(Record.entity == spec.entity.value)
        if spec.item_category is not None:
            categories = select(Item.code).where(Item.category == spec.item_category)
            conditions.append(Record.data["item_code"].as_string().in_(categories))
    if query.date_from is not None:
        conditions.append(Record.occurred_on >= query.date_from)
    if query.date_to is not None:
        conditions.append(Record.occurred_on <= query.date_to)
    for name, values in query.filters.items():
        if name == "country":
            conditions.append(Team.country_code.in_(values))
        elif name == "area":
            conditions.append(Site.area_id.in_(values))
        elif name == "site":
            conditions.append(Record.site_id.in_(values))
        elif name == "site_type":
            conditions.append(Site.site_type.in_(values))
        elif name == "team":
            conditions.append(Record.team_id.in_(values))
        elif name == "population_group":
            conditions.append(Record.population_group.in_(values))
        elif name in ("year", "quarter", "month"):
            ranges = [(date(int(v), 1, 1), date(int(v), 12, 31)) if name == "year"
                      else _quarter_range(str(v)) if name == "quarter" else _month_range(str(v)) for v in values]
            conditions.append(or_(*(and_(Record.occurred_on >= first, Record.occurred_on <= last)
                                    for first, last in ranges)))
        elif name in _DATA_DIMENSIONS:
            field, entities = _DATA_DIMENSIONS[name]
            conditions.append(and_(Record.entity.in_(entities), Record.data[field].as_string().in_(values)))
        else:  # validate_filters lets no other name through
            raise ValueError(f"no record filter for {name}")
    return conditions


def _window_end(connection: Connection, after: int, high: int) -> int:
    """The upper seq of the window after `after`: WINDOW records further on (all teams: the seq
    index alone, unfiltered), or `high`. Seqs are not dense (on PostgreSQL each transaction's start
    2**16 apart, server/persistence/seq.py), so a fixed width of seqs would mostly read empty windows."""
    end = connection.execute(select(Record.seq).where(Record.seq > after, Record.seq <= high)
                             .order_by(Record.seq).offset(WINDOW - 1).limit(1)).scalar()
    return high if end is None else int(end)


def _window_statement(query: LineListQuery, after: int, upto: int) -> Select[Any]:
    return (select(Record.seq, Record.id, Record.entity, Record.version, Record.status, Team.country_code,
                   Site.area_id, Record.site_id, Site.site_type, Record.team_id, Record.occurred_on,
                   Record.recorded_at, Record.population_group, Record.beneficiary_ref, Record.data,
                   Record.clock_suspect, Record.received_at)
            .join(Team, Team.id == Record.team_id)
            .join(Site, Site.id == Record.site_id)
            .where(Record.seq > after, Record.seq <= upto, *_conditions(query))
            .order_by(Record.seq))


def rows(session: scoped_session[Session], query: LineListQuery) -> Iterator[dict[str, Any]]:
    """Every matching record as a flat dict (COLUMNS), in seq order, a window at a time.

    Each window is read in a read-only transaction of its own (`reading_only`), ended before its
    rows are handed on: the rows are written out as the client takes them, and a client on a slow
    link must not keep a transaction open meanwhile (on SQLite it held the write lock, and every
    tablet's push waited for the last byte of the download). Windows may see different snapshots;
    a record changed meanwhile gets a seq above `high`, so the next incremental list has it.

    `session` is the scoped session, so each window uses the session of the app context it is read
    in: the rows are read while the response streams, after the view's own session was removed.
    """
    after = query.since
    while after < query.high:
        # On the Connection, not the Session: plain Core rows, without the ORM's per-row loading.
        with reading_only(session):
            connection = session.connection()
            upto = _window_end(connection, after, query.high)
            page = connection.execute(_window_statement(query, after, upto)).all()
        for row in page:
            yield line_row(*row)
        after = upto


def line_row(seq: int, record_id: str, entity: str, version: int, status: str, country: str, area: str | None,
             site: str, site_type: str | None, team: str, occurred_on: date, recorded_at: str,
             population_group: str, beneficiary_ref: str | None, data: Mapping[str, Any] | None,
             clock_suspect: bool | None, received_at: datetime) -> dict[str, Any]:
    """One record as one row of the line list (COLUMNS). The one builder of that row: the line list's
    windows and the webhooks' event bodies (server/integrations/webhooks/outbox.py) both call it."""
    data = data or {}
    recorded_utc, recorded_offset = utc_z_and_offset(recorded_at)
    return {
        "seq": seq, "id": record_id, "entity": str(entity), "version": version,
        "status": str(status), "country": country, "area": area,
        "site": site, "site_type": site_type, "team": team, "occurred_on": occurred_on.isoformat(),
        "recorded_at": recorded_utc, "recorded_at_offset_minutes": recorded_offset,
        "population_group": population_group,
        # Pseudonymous, as the record holds it; names are never collected (domain.md).
        "beneficiary_ref": beneficiary_ref,
        **{name: data.get(name) for name in DATA_FIELDS},
        "clock_suspect": bool(clock_suspect),
        "received_at": isoformat_z(received_at),
    }


# --- renderings -------------------------------------------------------------------------------


def jsonl(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buffer: list[str] = []
    for record in records:
        buffer.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        if len(buffer) >= 500:
            yield ("\n".join(buffer) + "\n").encode("utf-8")
            buffer.clear()
    if buffer:
        yield ("\n".join(buffer) + "\n").encode("utf-8")


def _flat(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_chunks(records: Iterator[dict[str, Any]], *, bom: bool = False) -> Iterator[bytes]:
    buffer = io.StringIO()
    if bom:
        buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for count, record in enumerate(records, start=1):
        # Topics and beneficiary refs are typed on tablets: neutralise formula-like text (OWASP CSV injection).
        writer.writerow([spreadsheet_cell(_flat(record[name])) for name in COLUMNS])
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


_XLSX_DATES = frozenset({"occurred_on"})
_XLSX_TIMES = frozenset({"recorded_at", "received_at"})


def _xlsx_value(name: str, value: Any) -> Any:
    """The cell Excel should hold: a date, a (UTC, naive: Excel has no zones) time, a number, a
    boolean; text neutralised as in CSV. A time that does not parse stays text, as sent."""
    if isinstance(value, str) and name in _XLSX_DATES:
        return date.fromisoformat(value)
    if isinstance(value, str) and name in _XLSX_TIMES and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value[:-1])
        except ValueError:
            pass
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return spreadsheet_cell(value) if isinstance(value, str) else value


def xlsx_chunks(records: Iterator[dict[str, Any]], chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """An .xlsx workbook: openpyxl's write-only mode spools rows to disk; a new sheet every
    XLSX_MAX_ROWS - 1 records (Excel's limit). The zip is streamed from a temporary file."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = None
    in_sheet = 0
    for record in records:
        if sheet is None or in_sheet >= XLSX_MAX_ROWS - 1:
            sheet = workbook.create_sheet(f"records {len(workbook.worksheets) + 1}")
            sheet.append(list(COLUMNS))
            in_sheet = 0
        # A text starting with "=" would be stored as a formula: the same neutralising as CSV.
        sheet.append([_xlsx_value(name, record[name]) for name in COLUMNS])
        in_sheet += 1
    if sheet is None:
        workbook.create_sheet("records 1").append(list(COLUMNS))
    with tempfile.TemporaryFile() as spool:
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(chunk_size):
            yield chunk
