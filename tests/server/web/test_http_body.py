"""Request bodies (server/web/http_body.py): gzip, limits after decompression, content type, strict JSON."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from typing import Any

import pytest
from flask import Flask

from config import Limits
from tests.factories import EnrolledDevice, create_mutation, gzip_bomb, push_body, push_headers

PUSH = "/api/v1/sync/push"


def _post(client, device: EnrolledDevice, data: bytes, body: dict[str, Any] | None = None, **headers: str):
    body = body or push_body([create_mutation()])
    all_headers = {**push_headers(device, body), "Content-Type": "application/json", **headers}
    return client.post(PUSH, data=data, headers=all_headers)


def _error(response) -> str:
    return response.get_json()["error"]["code"]


def test_a_gzip_body_is_decompressed(client, device) -> None:
    body = push_body([create_mutation(), create_mutation("outreach")])
    response = _post(client, device, gzip.compress(json.dumps(body).encode()), body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["results"]] == ["applied", "applied"]


def test_concatenated_gzip_members_are_one_body(client, device) -> None:
    body = push_body([create_mutation()])
    raw = json.dumps(body).encode()
    data = gzip.compress(raw[:40]) + gzip.compress(raw[40:])
    assert _post(client, device, data, body, **{"Content-Encoding": "gzip"}).status_code == 200


def test_a_gzip_bomb_is_413_without_inflating_it(client, device) -> None:
    bomb = gzip_bomb()
    tracemalloc.start()
    try:
        response = _post(client, device, bomb, **{"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert _error(response) == "payload_too_large"
    # The limit (5 MB) plus the compressed body and bookkeeping, nowhere near the 1 GiB it expands to.
    assert peak < 40 * 1024 * 1024


def test_the_limit_applies_after_decompression(app: Flask, client, device, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", Limits(push_max_bytes=3_000))
    body = push_body([create_mutation() for _ in range(20)])  # ~8 KB of JSON, well under 3 KB gzipped
    compressed = gzip.compress(json.dumps(body).encode())
    assert len(compressed) < 3_000
    assert _post(client, device, compressed, body, **{"Content-Encoding": "gzip"}).status_code == 413
    small = push_body([create_mutation()])
    assert _post(client, device, gzip.compress(json.dumps(small).encode()), small,
                 **{"Content-Encoding": "gzip"}).status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"definitely not gzip", "not valid gzip"),
        (gzip.compress(b'{"batch_id": "x"}', mtime=0)[:-6], "truncated"),
    ],
    ids=["not-gzip", "truncated"],  # fixed: the bytes (a gzip header holds a time) would be the ids
)
def test_broken_gzip_is_400(client, device, data: bytes, message: str) -> None:
    response = _post(client, device, data, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "data",
    [
        b'{"batch_id": "\xff\xfe"}',  # invalid UTF-8
        b'{"batch_id": ',  # truncated JSON
        b'{"n": NaN}',  # not JSON
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to exhaust the parser's recursion
        b'{"n": ' + b"9" * 5000 + b"}",  # beyond Python's integer digit limit
    ],
    ids=["utf8", "truncated", "nan", "deep", "huge-int"],
)
def test_unreadable_bodies_are_400_malformed_request(client, device, data: bytes) -> None:
    response = _post(client, device, data)
    assert response.status_code == 400
    assert _error(response) == "malformed_request"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Encoding": "br"},
    ],
)
def test_wrong_content_type_or_coding_is_415(client, device, headers: dict[str, str]) -> None:
    body = push_body([create_mutation()])
    response = _post(client, device, json.dumps(body).encode(), body, **headers)
    assert response.status_code == 415
    assert _error(response) == "unsupported_media_type"


def test_json_variants_are_accepted(client, device) -> None:
    body = push_body([create_mutation()])
    data = json.dumps(body).encode()
    assert _post(client, device, data, body, **{"Content-Type": "application/json; charset=UTF-8"}).status_code == 200


def test_authentication_comes_before_reading_the_body(client) -> None:
    response = client.post(PUSH, data=gzip_bomb(), headers={"Content-Type": "application/json",
                                                          "Content-Encoding": "gzip"})
    assert response.status_code == 401


def test_other_routes_read_gzip_bodies_too(client) -> None:
    # webargs parses the decompressed JSON: wrong credentials (401), not an unreadable body (400/422).
    data = gzip.compress(json.dumps({"username": "nobody", "password": "wrong"}).encode())
    response = client.post("/api/v1/auth/token", data=data,
                           headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 401


def test_a_write_without_a_body_is_left_to_the_route(client, device) -> None:
    response = client.post(PUSH, headers={**device.headers, "Idempotency-Key": "x"})
    assert response.status_code == 400
    assert _error(response) == "malformed_request"
