"""Aggregates for coordinators and admins: the indicator registry and aggregate queries."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import INCLUDE

from schemas.aggregates import (
    AggregateQuerySchema,
    AggregateResponseSchema,
    IndicatorListSchema,
)
from schemas.pagination import PageArgsSchema
from server.aggregation import export
from server.aggregation.indicators import INDICATORS
from server.aggregation.query import AggregateResult, QueryError, aggregate, countries_of
from server.persistence.read_replica import read_session
from server.web.auth import ADMIN, COORDINATOR, access, current_principal
from server.web.errors import ApiError, validation_error
from server.web.transactions import reads_only

blp = Blueprint("aggregates", __name__, url_prefix="/api/v1", description="Indicators and aggregate counts")


@blp.route("/indicators")
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, IndicatorListSchema)
def list_indicators(args: dict[str, Any]) -> dict[str, Any]:
    """The indicator registry: code, label, measure and the dimensions each can be grouped by."""
    codes = [indicator.code for indicator in INDICATORS]
    start = 0
    if args["cursor"]:
        if args["cursor"] not in codes:
            raise validation_error({"cursor": ["Unknown cursor."]})
        start = codes.index(args["cursor"]) + 1
    page = INDICATORS[start:start + args["limit"]]
    more = start + len(page) < len(INDICATORS)
    return {"items": [indicator.to_dict() for indicator in page], "next_cursor": page[-1].code if more else None}


@blp.route("/aggregates")
@access(COORDINATOR, ADMIN)
@blp.arguments(AggregateQuerySchema, location="query", unknown=INCLUDE)  # filters are open-ended
@blp.response(200, AggregateResponseSchema)
@reads_only  # on SQLite a snapshot beside the writer, not a turn at the write lock behind pushes
def get_aggregates(args: dict[str, Any]) -> Any:
    """An indicator grouped by dimensions, over filters and an inclusive `from`/`to` date range.

    `Accept: text/csv` or `format=csv` answers CSV; `format=hxl` CSV with an HXL hashtag row (grouped
    by country too, so every row names its country). Both come as an attachment with a file name;
    `bom=1` starts them with a UTF-8 byte-order mark, so Excel reads Arabic names as UTF-8.
    """
    filters = scoped_filters(args["filters"])
    output = _format(args["format"])
    group_by = args["group_by"]
    if output == "hxl" and "country" not in group_by:
        group_by = ["country", *group_by]
    try:
        result = aggregate(read_session(), args["indicator"], group_by, filters, args["date_from"], args["date_to"])
    except QueryError as error:
        raise validation_error(error.fields) from error
    if output in ("csv", "hxl"):
        return export.attachment(export.to_csv(result, hxl=output == "hxl"),
                                 export.file_name(result, output), bom=args["bom"])
    return _json(result)


def scoped_filters(filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """A coordinator sees only their countries: asked outside them, 403; not asked, their countries."""
    principal = current_principal()
    if principal.countries is None:
        return filters
    asked: set[str] = set()
    for dim in ("country", "area", "site", "team"):
        asked |= countries_of(read_session(), dim, filters.get(dim, []))
    outside = sorted(code for code in asked if not principal.can_see_country(code))
    if outside:
        raise ApiError(403, "out_of_scope", f"You may not access country {', '.join(outside)}.")
    if "country" not in filters:
        filters = {**filters, "country": sorted(principal.countries)}
    return filters


def _format(requested: str) -> str:
    if "format" in request.args:
        return requested
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"], default="application/json")
    return "csv" if best == "text/csv" else "json"


def _json(result: AggregateResult) -> dict[str, Any]:
    filters: dict[str, Any] = dict(result.filters)
    if result.date_from:
        filters["from"] = result.date_from.isoformat()
    if result.date_to:
        filters["to"] = result.date_to.isoformat()
    return {"indicator": result.indicator, "filters": filters, "group_by": result.group_by, "rows": result.rows,
            "total": result.total}
