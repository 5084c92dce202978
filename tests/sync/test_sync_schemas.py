"""The push envelope: valid envelopes load even when their items are bad."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.sync import PushRequestSchema, PushResponseSchema
from sync.domain import ItemResult, ItemStatus


def envelope(**overrides: Any) -> dict[str, Any]:
    body = {
        "batch_id": str(uuid.uuid4()),
        "schema_version": 1,
        "app_version": "1.4.0",
        "client_time": "2026-03-02T09:58:11Z",
        "mutations": [{"op_id": "not-a-uuid"}, "junk"],
    }
    return {**body, **overrides}


def test_envelope_keeps_items_raw() -> None:
    loaded = PushRequestSchema().load(envelope())
    assert loaded["mutations"] == [{"op_id": "not-a-uuid"}, "junk"]
    assert loaded["client_time"] == datetime(2026, 3, 2, 9, 58, 11, tzinfo=UTC)


def test_naive_client_time_is_read_as_utc() -> None:
    loaded = PushRequestSchema().load(envelope(client_time="2026-03-02T09:58:11"))
    assert loaded["client_time"].tzinfo is not None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"batch_id": "x"}, "batch_id"),
        ({"schema_version": "1"}, "schema_version"),
        ({"schema_version": 0}, "schema_version"),
        ({"client_time": "soon"}, "client_time"),
        ({"mutations": {"a": 1}}, "mutations"),
        ({"app_version": ""}, "app_version"),
        ({"extra": True}, "extra"),
    ],
)
def test_malformed_envelope_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        PushRequestSchema().load(envelope(**overrides))
    assert list(info.value.messages) == [field]


def test_missing_mutations_is_malformed() -> None:
    body = envelope()
    del body["mutations"]
    with pytest.raises(ValidationError):
        PushRequestSchema().load(body)


def test_push_response_dumps_item_shapes() -> None:
    results = [
        ItemResult("op-1", ItemStatus.APPLIED, id="r1", version=1, seq=5).to_wire(),
        ItemResult("op-2", ItemStatus.REJECTED, errors={"data.sex": ["Must be one of: f, m, x."]}).to_wire(),
    ]
    dumped = PushResponseSchema().dump(
        {"batch_id": "b", "server_time": datetime(2026, 3, 2, tzinfo=UTC), "clock_offset_ms": 110000,
         "results": results}
    )  # fmt: skip
    assert dumped["results"] == results
