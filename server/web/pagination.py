"""Keyset pagination for every list endpoint (api.md "Lists"): `{"items": [...], "next_cursor": ...}`.

Usage, in a handler or operation::

    @blp.arguments(PageArgsSchema, location="query")          # schemas.pagination: limit + cursor
    @blp.response(200, page_schema(ThingSchema))
    def list_things(args):
        stmt = select(Thing, extra_column).where(...scope...)
        page = paginate(db.session, stmt, keys=(Thing.created_at, Thing.id),
                        limit=args["limit"], cursor=args["cursor"])
        return page.envelope([to_item(thing, extra) for thing, extra in page.rows])

- `keys` are the columns the list is ordered by, most significant first, together unique (end
  with the primary key), e.g. `(Thing.id,)` or `(Thing.created_at, Thing.id)`. They may be
  Integer, String or DateTime columns. `descending=True` (the default) lists newest first.
- `stmt` is any `select()` with its scope filters and without ORDER BY or LIMIT: `paginate` adds
  them, plus the key columns (so `page.rows` hold exactly the columns `stmt` selected).
- The cursor is opaque to clients: base64url JSON of the last row's key values. It is not signed,
  on purpose: the scope filters of `stmt` still apply to every page, so a forged cursor can only
  move within what the caller may see, and an unsigned cursor survives restarts and works across
  worker processes even without a configured SECRET_KEY. A cursor that does not decode to values
  of the key columns' types is a 422 naming `cursor`.

Keyset (not OFFSET) paging keeps pages stable while rows are added and costs the same on page 1000.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

from server.web.errors import validation_error
from server.web.http_body import decode_json

_CURSOR_VERSION = 1


@dataclass(frozen=True)
class Page:
    rows: list[tuple[Any, ...]]
    next_cursor: str | None

    def envelope(self, items: Sequence[Any]) -> dict[str, Any]:
        return {"items": list(items), "next_cursor": self.next_cursor}


def paginate(
    session: Session,
    stmt: Select[Any],
    *,
    keys: Sequence[ColumnElement[Any]],
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> Page:
    """One page of `stmt`, ordered by `keys`, strictly after `cursor`."""
    if not keys:
        raise ValueError("paginate needs at least one key column")
    width = len(stmt.column_descriptions)  # entities count once (selected_columns expands them)
    if cursor is not None:
        after = decode_cursor(cursor, keys)
        stmt = stmt.where(_after(keys, after, descending))
    ordering = [key.desc() if descending else key.asc() for key in keys]
    # One extra row tells whether there is a next page without a COUNT.
    result = session.execute(stmt.add_columns(*keys).order_by(*ordering).limit(limit + 1)).all()
    has_more = len(result) > limit
    result = result[:limit]
    next_cursor = encode_cursor(tuple(result[-1][width:])) if has_more else None
    return Page(rows=[tuple(row[:width]) for row in result], next_cursor=next_cursor)


def _after(keys: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    # (k1, k2) < (v1, v2) spelled out, since row-value comparison is not portable to every engine:
    # k1 < v1 OR (k1 = v1 AND k2 < v2).
    clauses = []
    for index, key in enumerate(keys):
        beyond = key < values[index] if descending else key > values[index]
        equal_prefix = [keys[i] == values[i] for i in range(index)]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(*clauses)


def encode_cursor(values: Sequence[Any]) -> str:
    wire = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps([_CURSOR_VERSION, wire], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[ColumnElement[Any]]) -> list[Any]:
    """The key values a cursor holds, typed like `keys`; a 422 naming `cursor` otherwise."""
    invalid = validation_error({"cursor": ["Not a valid cursor for this list."]})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # The client's JSON, so the same decode policy as a body (a lone surrogate in a string
        # key value would otherwise reach the database driver).
        version, wire = decode_json(raw.decode("utf-8"))
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise invalid from None
    if version != _CURSOR_VERSION or not isinstance(wire, list) or len(wire) != len(keys):
        raise invalid
    values = []
    for key, value in zip(keys, wire, strict=True):
        typed = _typed(key, value)
        if typed is None:
            raise invalid
        values.append(typed)
    return values


def _typed(key: ColumnElement[Any], value: Any) -> Any:
    try:
        python_type = key.type.python_type
    except NotImplementedError:
        return None
    if python_type is datetime:
        if not isinstance(value, str):
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        # Columns hold naive UTC; an aware value would compare differently on each engine.
        return moment if moment.tzinfo is None else None
    # bool is an int, but never a key value; out-of-range ints and NULs would be driver errors (500s).
    if python_type is int and isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**63 else None
    if python_type is str and isinstance(value, str):
        return value if "\x00" not in value else None
    return None
