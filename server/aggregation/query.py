"""Answer an aggregate query from the rollups: `aggregate(session, indicator, group_by, filters, ...)`.

Cost is in proportion to the cells (or, for distinct people, the person facts) of the months asked
for, never to the records. A query using only place, time and population group reads the coarse
`<indicator>:place` cells (see rollups.py), which stay few however many records there are. One
exception that keeps answers exact: a `from`/`to` that is not
a month boundary cuts a month in two, and a month cell cannot be cut. The part-months at either
end are then read from the records table (through its (entity, occurred_on) index) and projected
into the same shape as a cell or a fact, in SQL, so at most two months of records are read.

Distinct people (domain.md): a person (beneficiary_ref within a country) counts once per bucket
(the finest of month/quarter/year in group_by, else the calendar year), attributed to their
earliest matching record of the bucket. Each fact row holds the earliest record of a person for
one combination of codes in one month, so after filtering, the earliest fact of a (bucket,
country, person) partition is that person's earliest matching record:
`ROW_NUMBER() OVER (PARTITION BY bucket, country, person ORDER BY first_occurred_on, first_record_id)`.
Records without a beneficiary_ref are each a person of their own and live in ordinary count cells.

Ranking facts costs in proportion to the people of the period. The questions most asked (by place,
population group and time, for a country, a set of population groups and whole buckets: every
public statement, the coordinator's breakdowns by area and month) read `rollup_distinct_cells`
instead, which hold each person's earliest record per bucket already, and the records without a
beneficiary_ref (see distinct.py), and stay few however many people there are;
`_distinct_cells_period` says when they answer exactly.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, String, func, literal, select, union_all
from sqlalchemy.orm import Session

from server.aggregation.distinct import groups_before_none_of, groups_mask, start_month
from server.aggregation.indicators import (
    ALL_DIMENSIONS,
    BY_CODE,
    PLACE_DIMENSIONS,
    TIME_DIMENSIONS,
    Indicator,
    Measure,
)
from server.aggregation.rollups import ACTIVE, month_of, place_indicator, year_quarter_of
from server.models import (
    Area,
    Country,
    Item,
    Record,
    RollupCell,
    RollupDistinctCell,
    RollupPersonFact,
    Service,
    Site,
    Team,
)
from server.models.rollups import CELL_DIMENSIONS
from sync.record_types import DATA_DIMENSIONS

SITE_TYPES = ("community_centre", "detention_centre", "mobile_point", "disembarkation_point", "health_facility")
NAMED_DIMENSIONS = ("area", "site", "team")  # rows carry `<dim>_name` too

FIXED_VALUES: dict[str, tuple[str, ...]] = {
    "site_type": SITE_TYPES,
    **{name: dim.values for name, dim in DATA_DIMENSIONS.items() if dim.codes},
}
# The reference data a record type's dimension may name (sync/record_types.py `reference`).
_REFERENCE_TABLES: dict[str, Any] = {"item": Item.code, "service": Service.code}
_REFERENCE_VALUES: dict[str, Any] = {
    "country": Country.code, "area": Area.id, "site": Site.id, "team": Team.id,
    **{name: _REFERENCE_TABLES[dim.reference] for name, dim in DATA_DIMENSIONS.items() if dim.reference},
}
_PATTERNS = {"year": re.compile(r"^\d{4}$"), "quarter": re.compile(r"^\d{4}Q[1-4]$"),
             "month": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")}


class QueryError(Exception):
    """The query names something unknown or not allowed; `fields` maps parameter to messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class AggregateResult:
    indicator: str
    group_by: list[str]
    filters: dict[str, list[Any]]
    date_from: date | None
    date_to: date | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class _Span:
    """The query's dates split into whole months (read from rollups) and part-months (records)."""

    first_month: str | None  # None: unbounded
    last_month: str | None
    no_whole_months: bool
    partial: tuple[tuple[date, date], ...]


def aggregate(session: Session, indicator: str, group_by: Sequence[str], filters: Mapping[str, Sequence[Any]],
              date_from: date | None = None, date_to: date | None = None) -> AggregateResult:
    """The indicator grouped by `group_by`, over records matching every filter (values within a
    filter are alternatives; an empty list matches nothing) and `date_from <= occurred_on <= date_to`.

    Raises QueryError for an unknown indicator, dimension or value, a dimension the indicator does
    not have, or `date_from > date_to`.
    """
    spec, group, clean = _validate(session, indicator, group_by, filters, date_from, date_to)
    span = _span(date_from, date_to)
    if any(len(values) == 0 for values in clean.values()):
        rows: list[dict[str, Any]] = []
        total = 0
    elif spec.is_distinct:
        rows = _distinct_rows(session, spec, group, clean, span)
        # The total counts people per calendar year; grouped by nothing (or by year) the rows already do.
        ungrouped = rows if set(group) <= {"year"} else _distinct_rows(session, spec, [], clean, span)
        total = sum(row["value"] for row in ungrouped)
    else:
        rows = _sum_rows(session, spec, group, clean, span)
        total = sum(row["value"] for row in rows)  # each cell falls in exactly one group
    return AggregateResult(spec.code, list(group), clean, date_from, date_to, rows, total)


# --- validation -------------------------------------------------------------------------------


def _validate(session: Session, indicator: str, group_by: Sequence[str], filters: Mapping[str, Sequence[Any]],
              date_from: date | None, date_to: date | None) -> tuple[Indicator, list[str], dict[str, list[Any]]]:
    spec = BY_CODE.get(indicator)
    if spec is None:
        raise QueryError({"indicator": [f"Unknown indicator: {indicator}."]})
    errors: dict[str, list[str]] = {}
    group: list[str] = []
    for name in group_by:
        problem = _dimension_problem(spec, name)
        if problem:
            errors.setdefault("group_by", []).append(problem)
        elif name in group:
            errors.setdefault("group_by", []).append(f"Dimension given twice: {name}.")
        else:
            group.append(name)
    clean = _check_filters(session, filters, lambda name: _dimension_problem(spec, name), date_from, date_to,
                           errors)
    return spec, group, clean


def _check_filters(session: Session, filters: Mapping[str, Sequence[Any]],
                   dimension_problem: Callable[[str], str | None], date_from: date | None, date_to: date | None,
                   errors: dict[str, list[str]]) -> dict[str, list[Any]]:
    """The filters with known dimensions and values, normalised; else QueryError with every problem
    (`errors` may already hold some, e.g. the group_by's)."""
    clean: dict[str, list[Any]] = {}
    for name, values in filters.items():
        problem = dimension_problem(name)
        if problem:
            errors.setdefault(name, []).append(problem)
            continue
        unknown = _unknown_values(session, name, [str(v) for v in values])
        if unknown:
            errors.setdefault(name, []).append("Unknown value: " + ", ".join(unknown) + ".")
            continue
        clean[name] = sorted({int(v) if name == "year" else str(v) for v in values})
    if date_from is not None and date_to is not None and date_from > date_to:
        errors.setdefault("from", []).append("Must not be after to.")
    if errors:
        raise QueryError(errors)
    return clean


def validate_filters(session: Session, indicator: str | None, filters: Mapping[str, Sequence[Any]],
                     date_from: date | None = None, date_to: date | None = None,
                     ) -> tuple[Indicator | None, dict[str, list[Any]]]:
    """The aggregates' filter validation, for readers of records (line lists): with an indicator,
    exactly `aggregate`'s checks; without one, any dimension of any indicator. Raises QueryError."""
    if indicator is not None:
        spec, _, clean = _validate(session, indicator, [], filters, date_from, date_to)
        return spec, clean
    clean = _check_filters(session, filters,
                           lambda name: None if name in ALL_DIMENSIONS else f"Unknown dimension: {name}.",
                           date_from, date_to, {})
    return None, clean


def _dimension_problem(spec: Indicator, name: str) -> str | None:
    if name not in ALL_DIMENSIONS:
        return f"Unknown dimension: {name}."
    if name not in spec.dimensions:
        return f"Dimension {name} is not available for indicator {spec.code}."
    return None


def _unknown_values(session: Session, name: str, values: list[str]) -> list[str]:
    if name in _PATTERNS:
        return [v for v in values if not _PATTERNS[name].match(v)]
    if name in FIXED_VALUES:
        return [v for v in values if v not in FIXED_VALUES[name]]
    column = _REFERENCE_VALUES[name]
    known = set(session.execute(select(column).where(column.in_(values))).scalars())
    return [v for v in values if v not in known]


# --- dates ------------------------------------------------------------------------------------


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _span(date_from: date | None, date_to: date | None) -> _Span:
    partial: list[tuple[date, date]] = []
    first = last = None
    if date_from is not None:
        first_day = date_from if date_from.day == 1 else _month_end(date_from) + timedelta(days=1)
        first = month_of(first_day)
        if date_from.day != 1:
            end = _month_end(date_from)
            partial.append((date_from, min(end, date_to) if date_to else end))
    if date_to is not None:
        last_day = date_to if date_to == _month_end(date_to) else date_to.replace(day=1) - timedelta(days=1)
        last = month_of(last_day)
        if date_to != _month_end(date_to):
            start = date_to.replace(day=1)
            if not partial or partial[0][0] < start:  # the same month is already covered
                partial.append((max(start, date_from) if date_from else start, date_to))
    no_whole = first is not None and last is not None and first > last
    return _Span(first, last, no_whole, tuple(partial))


# --- sources ----------------------------------------------------------------------------------
# A source is a subquery with the columns of a cell (value) or of a fact (person); whole months
# come from the rollup tables, part-months from the records table projected the same way.


def _month_columns(start: date) -> list[ColumnElement[Any]]:
    month = month_of(start)
    year, quarter = year_quarter_of(month)
    return [literal(month, String).label("month"), literal(year, Integer).label("year"),
            literal(quarter, String).label("quarter")]


def _record_dimensions(spec: Indicator, tally: Mapping[str, str] | None = None) -> list[ColumnElement[Any]]:
    """A record's cell columns, as `rollups.record_cells` makes them: the dimensions its record type
    reads from data (`tally`: the key codes of one tally count instead), '' for the others."""
    def data(name: str) -> ColumnElement[Any]:
        return func.coalesce(Record.data[name].as_string(), "")

    own = {dim.name: data(dim.field) for dim in spec.record_type.data_dimensions}
    if "population_group" in own:
        own["population_group"] = Record.population_group  # a column of its own, as the cells read it
    own.update({name: literal(code, String) for name, code in (tally or {}).items()})
    return [
        Record.team_id.label("team_id"), Record.site_id.label("site_id"),
        *((own[name] if name in own else literal("", String)).label(name) for name in CELL_DIMENSIONS[2:]),
    ]


def _record_filter(spec: Indicator, start: date, end: date) -> list[ColumnElement[bool]]:
    conditions = [Record.entity == spec.entity.value, Record.status == ACTIVE,
                  Record.occurred_on >= start, Record.occurred_on <= end]
    if spec.item_category is not None:
        categories = select(Item.code).where(Item.category == spec.item_category)
        conditions.append(Record.data["item_code"].as_string().in_(categories))
    return conditions


def _rollup_months(table: Any, spec: Indicator, span: _Span, code: str | None = None) -> list[ColumnElement[bool]]:
    conditions = [table.c.indicator == (code or spec.code)]
    if span.first_month:
        conditions.append(table.c.month >= span.first_month)
    if span.last_month:
        conditions.append(table.c.month <= span.last_month)
    return conditions


def _cell_source(spec: Indicator, span: _Span, coarse: bool) -> Any:
    table = RollupCell.__table__
    code = place_indicator(spec.code) if coarse else spec.code
    columns = ["team_id", "site_id", "month", "year", "quarter", *CELL_DIMENSIONS[2:]]
    parts: list[Select[Any]] = []
    if not span.no_whole_months:
        parts.append(select(*(table.c[c] for c in columns), table.c.value)
                     .where(*_rollup_months(table, spec, span, code)))
    for start, end in span.partial:
        parts.extend(_record_cells(spec, start, end))
    if not parts:  # cannot happen (a span has whole months or part-months); kept total
        parts.append(select(*(table.c[c] for c in columns), table.c.value).where(literal(False)))
    return union_all(*parts).subquery("src") if len(parts) > 1 else parts[0].subquery("src")


def _ordered(dims: list[ColumnElement[Any]], start: date) -> list[ColumnElement[Any]]:
    # The source column order: team_id, site_id, month, year, quarter, then the other dimensions.
    return [*dims[:2], *_month_columns(start), *dims[2:]]


def _record_cells(spec: Indicator, start: date, end: date) -> list[Select[Any]]:
    where = _record_filter(spec, start, end)
    if spec.measure is Measure.COUNT:
        return [select(*_ordered(_record_dimensions(spec), start), literal(1, Integer).label("value")).where(*where)]
    if spec.measure is Measure.SUM:
        value = Record.data[spec.field or ""].as_integer()
        return [select(*_ordered(_record_dimensions(spec), start), value.label("value")).where(*where)]
    if spec.measure.is_tally:
        tally = spec.record_type.tally
        assert tally is not None  # noqa: S101 - a tally measure's record type declares one
        selects = []
        for path in tally.combinations():
            value = Record.data[(tally.field, *path)].as_integer()
            dims = _record_dimensions(spec, {key.name: code for key, code in zip(tally.keys, path, strict=True)})
            selects.append(select(*_ordered(dims, start), value.label("value"))
                           .where(*where, value.is_not(None), value != 0))
        return selects
    # Distinct people: only records without a beneficiary_ref are counted through cells.
    return [select(*_ordered(_record_dimensions(spec), start), literal(1, Integer).label("value"))
            .where(*where, Record.beneficiary_ref.is_(None))]


def _fact_source(spec: Indicator, span: _Span) -> Any:
    table = RollupPersonFact.__table__
    columns = ["team_id", "site_id", "month", "year", "quarter", *CELL_DIMENSIONS[2:]]
    parts: list[Select[Any]] = []
    if not span.no_whole_months:
        parts.append(select(*(table.c[c] for c in columns), table.c.beneficiary_ref, table.c.first_occurred_on,
                            table.c.first_record_id).where(*_rollup_months(table, spec, span)))
    for start, end in span.partial:
        parts.append(select(*_ordered(_record_dimensions(spec), start), Record.beneficiary_ref.label("beneficiary_ref"),
                            Record.occurred_on.label("first_occurred_on"), Record.id.label("first_record_id"))
                     .where(*_record_filter(spec, start, end), Record.beneficiary_ref.is_not(None)))
    return union_all(*parts).subquery("src") if len(parts) > 1 else parts[0].subquery("src")


# --- grouping ---------------------------------------------------------------------------------


def _dimension_columns(src: Any) -> dict[str, ColumnElement[Any]]:
    return {
        "country": Team.country_code, "area": Site.area_id, "site": src.c.site_id, "site_type": Site.site_type,
        "team": src.c.team_id, "year": src.c.year, "quarter": src.c.quarter, "month": src.c.month,
        **{name: src.c[name] for name in CELL_DIMENSIONS[2:]},
    }


def _name_columns() -> dict[str, ColumnElement[Any]]:
    return {"area": Area.name, "site": Site.name, "team": Team.name}


def _joined(statement: Select[Any], src: Any) -> Select[Any]:
    return (statement.select_from(src)
            .join(Site, Site.id == src.c.site_id)
            .join(Team, Team.id == src.c.team_id)
            .join(Area, Area.id == Site.area_id))


def _group_columns(src: Any, group: list[str]) -> list[ColumnElement[Any]]:
    dims, names = _dimension_columns(src), _name_columns()
    columns: list[ColumnElement[Any]] = []
    for name in group:
        columns.append(dims[name].label(name))
        if name in names:
            columns.append(names[name].label(f"{name}_name"))
    return columns


def _filter_conditions(src: Any, filters: dict[str, list[Any]]) -> list[ColumnElement[bool]]:
    dims = _dimension_columns(src)
    return [dims[name].in_(values) for name, values in filters.items()]


def _to_rows(result: Any, group: list[str]) -> list[dict[str, Any]]:
    rows = []
    for row in result.mappings():
        out = {key: (int(value) if key in ("year", "value") else value) for key, value in row.items()}
        rows.append(out)
    return rows


def _sum_rows(session: Session, spec: Indicator, group: list[str], filters: dict[str, list[Any]],
              span: _Span) -> list[dict[str, Any]]:
    # The place cells answer whenever no person or service code is grouped or filtered by.
    coarse = set(group) | set(filters) <= PLACE_DIMENSIONS
    return _summed(session, _cell_source(spec, span, coarse), group, filters)


def _summed(session: Session, src: Any, group: list[str], filters: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The rows of a cell source (a subquery with the cell columns and `value`): summed per group,
    filtered, zero groups left out, sorted."""
    columns = _group_columns(src, group)
    value = func.sum(src.c.value)
    statement = _joined(select(*columns, value.label("value")), src).where(*_filter_conditions(src, filters))
    if columns:
        statement = statement.group_by(*columns)
    statement = statement.having(value != 0)
    return _sorted(_to_rows(session.execute(statement), group), group)


def _distinct_rows(session: Session, spec: Indicator, group: list[str], filters: dict[str, list[Any]],
                   span: _Span) -> list[dict[str, Any]]:
    period = _distinct_cells_period(group, filters, span)
    if period is not None:  # everyone is in the distinct cells, people without a beneficiary_ref too
        return _distinct_cell_rows(session, spec, period, group, filters, span)
    people = _fact_rows(session, spec, group, filters, span)
    # Plus each record without a beneficiary_ref: a person of its own, wherever it falls.
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in [*people, *_sum_rows(session, spec, group, filters, span)]:
        key = tuple(row[name] for name in group)
        if key in merged:
            merged[key]["value"] += row["value"]
        else:
            merged[key] = dict(row)
    return _sorted([row for row in merged.values() if row["value"]], group)


def _distinct_cells_period(group: list[str], filters: dict[str, list[Any]], span: _Span) -> str | None:
    """The bucket's period when the distinct cells answer exactly, else None (read the facts).

    They hold each person's earliest record per whole bucket, by place and population group: so
    grouped by place, group and time, filtered by country (a person's own), population group (the
    cells' terms, see distinct.py) and whole buckets only. A filter on a place or a finer time moves
    the earliest matching record somewhere the cells cannot tell.
    """
    if not set(group) <= PLACE_DIMENSIONS or span.partial or span.no_whole_months:
        return None
    period = next((name for name in TIME_DIMENSIONS if name in group), "year")
    whole_buckets = TIME_DIMENSIONS[TIME_DIMENSIONS.index(period):]  # this period and coarser
    if not set(filters) <= {"country", "population_group", *whole_buckets}:
        return None
    if span.first_month and start_month(period, span.first_month) != span.first_month:
        return None
    if span.last_month and int(span.last_month[5:7]) % {"year": 12, "quarter": 3, "month": 1}[period]:
        return None
    return period


def _distinct_cell_rows(session: Session, spec: Indicator, period: str, group: list[str],
                        filters: dict[str, list[Any]], span: _Span) -> list[dict[str, Any]]:
    table = RollupDistinctCell.__table__
    conditions = [table.c.indicator == spec.code, table.c.period == period]
    if span.first_month:
        conditions.append(table.c.start_month >= span.first_month)
    if span.last_month:
        conditions.append(table.c.start_month <= span.last_month)
    if "population_group" in filters:
        # A person counts at their first group within the filter's: the filter's groups (below, with
        # the other filters), none of them earlier. An IN list, so the key index still ranges by month.
        conditions.append(table.c.earlier_groups.in_(groups_before_none_of(groups_mask(filters["population_group"]))))
    else:
        conditions.append(table.c.earlier_groups == 0)  # each person's first group only
    unused = [literal("", String).label(name) for name in CELL_DIMENSIONS[3:]]
    src = select(table.c.team_id, table.c.site_id, table.c.month, table.c.year, table.c.quarter,
                 table.c.population_group, *unused, table.c.value).where(*conditions).subquery("src")
    return _summed(session, src, group, filters)


def _fact_rows(session: Session, spec: Indicator, group: list[str], filters: dict[str, list[Any]],
               span: _Span) -> list[dict[str, Any]]:
    src = _fact_source(spec, span)
    bucket_name = next((name for name in TIME_DIMENSIONS if name in group), "year")
    bucket = _dimension_columns(src)[bucket_name]
    columns = _group_columns(src, group)
    person = [bucket.label("bucket"), Team.country_code.label("person_country"), src.c.beneficiary_ref]
    if set(group) <= set(TIME_DIMENSIONS):
        # Grouped by time only, every group is a function of the bucket: no person needs
        # attributing to a record, so distinct (bucket, person) is enough, and cheaper than ranking.
        people_of = _joined(select(*columns, *person).distinct(), src).where(*_filter_conditions(src, filters))
        counted = people_of.subquery("people")
        outer = [counted.c[column.name] for column in columns]
        statement = select(*outer, func.count().label("value")).select_from(counted)
    else:
        rank = func.row_number().over(
            partition_by=[bucket, Team.country_code, src.c.beneficiary_ref],
            order_by=[src.c.first_occurred_on, src.c.first_record_id],
        ).label("rank")
        ranked = _joined(select(*columns, rank), src).where(*_filter_conditions(src, filters)).subquery("ranked")
        outer = [ranked.c[column.name] for column in columns]
        statement = select(*outer, func.count().label("value")).where(ranked.c.rank == 1)
    if outer:
        statement = statement.group_by(*outer)
    return _to_rows(session.execute(statement), group)


def _sorted(rows: list[dict[str, Any]], group: list[str]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(str(row[name]) for name in group))


def countries_of(session: Session, dimension: str, values: Sequence[str]) -> set[str]:
    """The countries of these countries, areas, sites or teams (unknown ones are left to validation)."""
    if not values:
        return set()
    if dimension == "country":
        statement = select(Country.code).where(Country.code.in_(values))
    elif dimension == "area":
        statement = select(Area.country_code).where(Area.id.in_(values))
    elif dimension == "site":
        statement = select(Area.country_code).join(Site, Site.area_id == Area.id).where(Site.id.in_(values))
    elif dimension == "team":
        statement = select(Team.country_code).where(Team.id.in_(values))
    else:
        raise ValueError(f"not a place dimension: {dimension}")
    return set(session.execute(statement).scalars())
