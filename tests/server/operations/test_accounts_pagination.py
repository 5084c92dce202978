"""server/web/pagination.py: keyset pages and opaque cursors (used by the accounts lists and others)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from schemas.pagination import PageArgsSchema
from server.models import Device, Team
from server.persistence.timeutil import utcnow
from server.web.errors import ApiError
from server.web.pagination import decode_cursor, encode_cursor, paginate
from tests.factories import make_device

KEYS = (Device.created_at, Device.id)


def raw_cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_typed_values() -> None:
    moment = datetime(2026, 3, 2, 9, 58, 11, 123456)
    assert decode_cursor(encode_cursor([moment, "abc"]), KEYS) == [moment, "abc"]
    assert decode_cursor(encode_cursor([42]), (Device.user_id,)) == [42]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!", "e30", raw_cursor({"a": 1}), raw_cursor([2, ["2026-01-01T00:00:00", "x"]]),
        raw_cursor([1, ["2026-01-01T00:00:00"]]), raw_cursor([1, [5, "x"]]), raw_cursor([1, ["yesterday", "x"]]),
        raw_cursor([1, ["2026-01-01T00:00:00+02:00", "x"]]), raw_cursor([1, ["2026-01-01T00:00:00", "a\x00b"]]),
        raw_cursor([1, ["2026-01-01T00:00:00", 7]]), "\u00e9t\u00e9",
    ],
    ids=["not-base64", "not-a-list", "object", "other-version", "too-few-values", "int-for-datetime",
         "bad-datetime", "aware-datetime", "nul", "int-for-string", "non-ascii"],
)
def test_a_foreign_cursor_is_a_422_naming_cursor(cursor: str) -> None:
    with pytest.raises(ApiError) as raised:
        decode_cursor(cursor, KEYS)
    assert (raised.value.status, list(raised.value.fields)) == (422, ["cursor"])


@pytest.mark.parametrize("value", [True, 2**63, -(2**63) - 1, 1.5, "1"])
def test_integer_keys_refuse_bools_floats_strings_and_out_of_range(value: object) -> None:
    with pytest.raises(ApiError):
        decode_cursor(raw_cursor([1, [value]]), (Device.user_id,))


def test_pages_follow_the_keys_in_either_direction(session) -> None:
    libya = select(Team).where(Team.country_code == "LY")
    ids = sorted(session.scalars(select(Team.id).where(Team.country_code == "LY")))
    for descending, expected in ((False, ids), (True, ids[::-1])):
        seen: list[str] = []
        cursor = None
        while True:
            page = paginate(session, libya, keys=(Team.id,), limit=3, cursor=cursor, descending=descending)
            seen += [team.id for (team,) in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected


def test_rows_hold_the_selected_columns_only_and_the_last_page_has_no_cursor(session) -> None:
    now = utcnow()
    devices = [make_device(session).device for _ in range(3)]
    for index, device in enumerate(devices):
        device.created_at = now + timedelta(days=365 + index)  # newer than anything else in the database
    session.flush()
    stmt = select(Device.id, Device.label)
    first = paginate(session, stmt, keys=KEYS, limit=2, cursor=None)
    assert first.rows == [(devices[2].id, "test tablet"), (devices[1].id, "test tablet")]
    assert first.next_cursor is not None
    exact = paginate(session, stmt.where(Device.id.in_([d.id for d in devices])), keys=KEYS, limit=3, cursor=None)
    assert exact.next_cursor is None
    assert exact.envelope(["a"]) == {"items": ["a"], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "errors"),
    [({"limit": "abc"}, {"limit"}), ({"limit": "1001"}, {"limit"}), ({"limit": "0"}, {"limit"}),
     ({"cursor": ""}, {"cursor"}), ({"page": "2"}, {"page"})],
)
def test_page_args_refuse_bad_values_and_unknown_parameters(query: dict[str, str], errors: set[str]) -> None:
    from marshmallow import EXCLUDE, ValidationError

    with pytest.raises(ValidationError) as raised:
        # EXCLUDE, as webargs loads query strings: unknown parameters must still be refused.
        PageArgsSchema().load(query, unknown=EXCLUDE)
    assert set(raised.value.messages) == errors


def test_page_args_defaults() -> None:
    assert PageArgsSchema().load({}) == {"limit": 100, "cursor": None}
    assert PageArgsSchema().load({"limit": "1000", "cursor": "abc"}) == {"limit": 1000, "cursor": "abc"}
