"""Line lists for coordinators and admins: `GET /api/v1/records` (server/operations/linelist.py does the work)."""

from __future__ import annotations

from typing import Any

from flask import Response, stream_with_context
from flask_smorest import Blueprint
from marshmallow import INCLUDE

from schemas.linelist import RecordQuerySchema
from server.aggregation.query import QueryError, validate_filters
from server.api.aggregates import scoped_filters
from server.extensions import db
from server.models import Record
from server.operations import linelist
from server.web.auth import ADMIN, COORDINATOR, access
from server.web.errors import ApiError, validation_error
from server.web.pagination import decode_cursor, encode_cursor
from server.web.transactions import reads_only

blp = Blueprint("records", __name__, url_prefix="/api/v1", description="Line lists of pseudonymous records")

_RESPONSES = {"200": {
    "description": "One row per record, in seq order: JSON lines, CSV or XLSX. `X-Next-Cursor` is the `since` "
                   "for the next incremental list.",
    "headers": {"X-Next-Cursor": {"schema": {"type": "string"}}},
    "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}
                for mimetype in linelist.MIMETYPES.values()},
}}


@blp.route("/records")
@access(COORDINATOR, ADMIN)
@blp.arguments(RecordQuerySchema, location="query", unknown=INCLUDE)  # filters are open-ended
@blp.doc(responses=_RESPONSES)
@blp.alt_response(403, description="`out_of_scope`: a filter names a country, area, site or team outside yours")
@blp.alt_response(422, description="an unknown dimension, value, indicator, format or `since`, named in `fields`")
@reads_only  # the filters and the list's upper seq; the rows are read a window at a time as they stream
def get_records(args: dict[str, Any]) -> Response:
    """The pseudonymous records in scope (coordinator: their countries), filtered as the aggregates are.

    Streamed at constant memory. Voided records stay, with `status: voided`. `since` (the previous list's
    `X-Next-Cursor`) lists only the records created or changed after that list.
    """
    filters = scoped_filters(args["filters"])  # 403 outside the caller's countries
    since = _since(args["since"])
    try:
        spec, clean = validate_filters(db.session, args["indicator"], filters, args["date_from"], args["date_to"])
    except QueryError as error:
        raise validation_error(error.fields) from error
    query = linelist.start(db.session, spec, clean, args["date_from"], args["date_to"], since)
    output = args["format"]
    records = linelist.rows(db.session, query)
    if output == "csv":
        chunks = linelist.csv_chunks(records, bom=args["bom"])
    elif output == "xlsx":
        chunks = linelist.xlsx_chunks(records)
    else:
        chunks = linelist.jsonl(records)
    headers = {"X-Next-Cursor": encode_cursor((max(query.high, since),)),
               "Content-Disposition": f'attachment; filename="records.{output}"'}
    return Response(stream_with_context(chunks), mimetype=linelist.MIMETYPES[output], headers=headers)


def _since(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return int(decode_cursor(cursor, (Record.seq,))[0])
    except ApiError:  # pagination names `cursor`; here the parameter is `since`
        raise validation_error({"since": ["Not a valid cursor for this list."]}) from None
