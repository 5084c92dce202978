"""Targeted hostile input on every kind of parameter: never a 5xx, and stored data unchanged.

Each case is something a broken tablet, a curious user or an attacker can send: NUL bytes (which
PostgreSQL refuses in text, and which were 500s before server/web/http_body.py refused them), path
ids past the database's integer range (500s before the resolution routes bounded them), SQL-like
strings, path traversal, homoglyphs, huge strings, absurd numbers, invalid UTF-8, deep nesting,
wrong content types and a gzip bomb on an anonymous route.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.models import Record
from tests.factories import (
    auth_headers,
    correct_mutation,
    create_mutation,
    gzip_bomb,
    make_device,
    make_token,
    make_user,
    push_body,
)

HOSTILE_STRINGS = [
    "' OR 1=1 --", "'; DROP TABLE records; --", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "a\x00b",
    "ｌｙ-ｍｍｔ-ｔｒｉｐｏｌｉ", "lу-mmt-tripoli",  # fullwidth; Cyrillic у
    "\u202egnp.exe", "😀" * 10, "x" * 5000, "%00", "\\", "",
]
# (Fullwidth digits such as "１２" are read as 12 by int(): harmless, so not listed.)
NUMBERS = ["-1", "0", "99999999999999999999", "1e309", "nan", "inf", "1.5", "0x10", "9223372036854775808"]
PAGED = ["/api/v1/teams", "/api/v1/devices", "/api/v1/quarantine", "/api/v1/conflicts", "/api/v1/indicators"]


def assert_4xx(response, what: str) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:200]}"
    assert "error" in response.get_json(), what


@pytest.fixture
def actors(session):  # type: ignore[no-untyped-def]
    device = make_device(session)
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()  # each refusal rolls back: keep the setup (the test's outer transaction stays)
    return device, coordinator


def stored(session) -> list[tuple]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return [tuple(row) for row in session.execute(
        select(Record.id, Record.version, Record.status, Record.data, Record.seq).order_by(Record.id))]


def push(client: FlaskClient, device, body: dict):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/sync/push", data=json.dumps(body), content_type="application/json",
                       headers={**device.headers, "Idempotency-Key": str(body["batch_id"])})


def test_hostile_path_query_and_credential_strings(client: FlaskClient, session, actors) -> None:
    device, coordinator = actors
    created = create_mutation()
    assert push(client, device, push_body([created])).status_code == 200
    before = stored(session)
    for value in HOSTILE_STRINGS:
        q = quote(value, safe="")
        for response, what in [
            (client.get(f"/api/v1/records/{q}/history", headers=coordinator), "history id"),
            (client.post(f"/api/v1/teams/{q}/enrollments", json={"username": value}, headers=coordinator), "team"),
            (client.post(f"/api/v1/devices/{q}/revoke", headers=coordinator), "device id"),
            (client.post("/api/v1/auth/token", json={"username": value, "password": value}), "login"),
            (client.post("/api/v1/devices/enroll", json={"code": value, "label": value, "app_version": value}),
             "enroll"),
            (client.get("/api/v1/sync/pull", query_string={"stream": "records", "cursor": value or "x"},
                        headers=device.headers), "pull cursor"),
            *((client.get(path, query_string={"cursor": value or "x"}, headers=coordinator), f"{path} cursor")
              for path in PAGED),
            *((client.get("/api/v1/aggregates", query_string={"indicator": "health_consultations", name: value},
                          headers=coordinator), f"aggregates {name}")
              for name in ("indicator", "group_by", "area", "site", "team", "country", "year", "from", "format",
                           value[:40] or "k")),
        ]:
            if response.status_code != 200:
                assert_4xx(response, f"{what}={value[:30]!r}")
    assert stored(session) == before


def test_negative_and_enormous_numbers_are_422s(client: FlaskClient, actors) -> None:
    device, coordinator = actors
    for number in NUMBERS:
        for path in PAGED:
            assert_4xx(client.get(path, query_string={"limit": number}, headers=coordinator), f"{path} limit={number}")
        assert_4xx(client.get("/api/v1/sync/pull", query_string={"stream": "records", "limit": number},
                              headers=device.headers), f"pull limit={number}")
        for name in ("year", "month", "quarter", "from", "to"):
            response = client.get("/api/v1/aggregates", headers=coordinator,
                                  query_string={"indicator": "health_consultations", name: number, "group_by": "year"})
            assert_4xx(response, f"aggregates {name}={number}")
    for number in ("99999999999999999999", "9223372036854775808", "2147483648"):
        assert_4xx(client.post(f"/api/v1/conflicts/{number}/resolve", json={"use": "server"}, headers=coordinator),
                   f"resolve {number}")
        assert_4xx(client.post(f"/api/v1/quarantine/{number}/discard", json={"reason": "x"}, headers=coordinator),
                   f"discard {number}")
        assert_4xx(client.post(f"/api/v1/quarantine/{number}/apply", json={"mutation": {}}, headers=coordinator),
                   f"apply {number}")


@pytest.mark.parametrize(("field", "value"), [
    ("beneficiary_ref", "a\x00b"), ("topic", "\x00"), ("site_id", "\x00"), ("site_id", "' OR 1=1 --"),
    ("quantity", 1e309), ("quantity", 10**30), ("quantity", -(10**30)), ("age_years", 10**30), ("age_years", 1e309),
    ("household_size", 10**20), ("occurred_on", "9999-12-31"), ("occurred_on", "0001-01-01"),
    ("recorded_at", "a\x00"),  # (a far-off recorded_at is valid: stored, marked clock_suspect)
    ("reached", {"f": {"18-59": 10**30}}), ("reached", {"\x00": {"18-59": 1}}), ("x\x00", 1),
    ("population_group", "ｉｄｐ"), ("service", "x" * 100_000),
])
def test_hostile_record_fields_never_reach_the_database_as_errors(client: FlaskClient, session, actors, field: str,
                                                                   value: object) -> None:
    device, _ = actors
    before = stored(session)
    for entity in ("consultation", "distribution", "outreach"):
        mutation = create_mutation(entity)
        mutation["data"][field] = value
        response = push(client, device, push_body([mutation]))
        if response.status_code == 200:
            (result,) = response.get_json()["results"]
            assert result["status"] == "rejected", (entity, field, result)
        else:
            assert_4xx(response, f"{entity}.{field}")
    assert stored(session) == before


@pytest.mark.parametrize(("what", "mutations", "envelope"), [
    ("op_id NUL", [{**create_mutation(), "op_id": "\x00"}], {}),
    ("id NUL", [{**create_mutation(), "id": "a\x00"}], {}),
    ("key NUL", [{**create_mutation(), "\x00": 1}], {}),
    ("reason NUL", [correct_mutation("00000000-0000-4000-8000-000000000000", 1, {"sex": "m"}, reason="\x00")], {}),
    ("base_version huge", [correct_mutation("00000000-0000-4000-8000-000000000000", 10**30, {"sex": "m"})], {}),
    ("base_version inf", [correct_mutation("00000000-0000-4000-8000-000000000000", 1e309, {"sex": "m"})], {}),
    ("not objects", ["x", 1, None, [], 1e309], {}),
    ("client_time far", [create_mutation()], {"client_time": "9999-12-31T23:59:59-14:00"}),
    ("client_time early", [create_mutation()], {"client_time": "0001-01-01T00:00:00+14:00"}),
    ("schema_version huge", [create_mutation()], {"schema_version": 10**30}),
    ("app_version NUL", [create_mutation()], {"app_version": "\x00"}),
    ("app_version huge", [create_mutation()], {"app_version": "x" * 100_000}),
    ("batch_id NUL", [create_mutation()], {"batch_id": "\x00"}),
])
def test_hostile_push_envelopes(client: FlaskClient, session, actors, what: str, mutations: list,
                                envelope: dict) -> None:
    device, _ = actors
    before = stored(session)
    body = {**push_body(mutations), **envelope}
    response = push(client, device, body)
    if response.status_code == 200:
        assert all(r["status"] in ("rejected", "applied") for r in response.get_json()["results"]), what
    else:
        assert_4xx(response, what)
    # A far-off client_time only marks records clock_suspect; everything else changes nothing stored (a
    # schema_version above the server's current is 422 schema_unsupported, tests/server/web/test_json_policy.py).
    if what == "schema_version huge":
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "schema_unsupported"
    if what not in ("client_time far", "client_time early"):
        assert stored(session) == before


RAW_BODIES = [
    ("invalid utf-8", b'{"a": "\xff\xfe"}', "application/json", 400),
    ("deep arrays", b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ("deep objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json", 400),
    ("text", b"hello", "text/plain", 415),
    ("form", b"a=b", "application/x-www-form-urlencoded", 415),
    ("multipart", b"--x\r\n", "multipart/form-data; boundary=x", 415),
    ("latin-1", b"{}", "application/json; charset=latin-1", 415),
    ("raw NUL", b"\x00", "application/json", 400),
    ("5000-digit number", b'{"batch_id": ' + b"9" * 5000 + b"}", "application/json", 400),
    ("not json", b"{", "application/json", 400),
]
POST_ROUTES = ["/api/v1/sync/push", "/api/v1/auth/token", "/api/v1/devices/enroll",
               "/api/v1/teams/ly-mmt-tripoli/enrollments", "/api/v1/quarantine/1/discard",
               "/api/v1/conflicts/1/resolve", "/api/v1/quarantine/1/apply"]


@pytest.mark.parametrize(("what", "data", "content_type", "status"), RAW_BODIES, ids=[b[0] for b in RAW_BODIES])
def test_malformed_bodies_get_the_documented_status_on_every_post_route(client: FlaskClient, actors, what: str,
                                                                        data: bytes, content_type: str,
                                                                        status: int) -> None:
    device, coordinator = actors
    for path in POST_ROUTES:
        headers = {**device.headers, "Idempotency-Key": "k"} if "sync" in path else coordinator
        response = client.post(path, data=data, content_type=content_type, headers=headers)
        assert response.status_code == status, f"{path} {what}: {response.get_data(as_text=True)[:200]}"
        assert "error" in response.get_json()


def test_encodings_and_a_gzip_bomb_on_an_anonymous_route(client: FlaskClient) -> None:
    gzip_headers = {"Content-Encoding": "gzip"}
    assert client.post("/api/v1/auth/token", data=b"\x1f\x8bxxxx", content_type="application/json",
                       headers=gzip_headers).status_code == 400
    assert client.post("/api/v1/auth/token", data=b"{}", content_type="application/json",
                       headers={"Content-Encoding": "br"}).status_code == 415
    assert client.post("/api/v1/auth/token", data=gzip_bomb(), content_type="application/json",
                       headers=gzip_headers).status_code == 413


def test_hostile_headers(client: FlaskClient, actors) -> None:
    device, _ = actors
    assert client.get("/api/v1/teams", headers={"Authorization": "Bearer fsu_\x00"}).status_code == 401
    assert client.get("/api/v1/teams", headers={"Authorization": "Bearer fsu_" + "a" * 100_000}).status_code == 401
    response = client.post("/api/v1/sync/push", json=push_body([]), headers={**device.headers,
                                                                             "Idempotency-Key": "x" * 100_000})
    assert_4xx(response, "huge Idempotency-Key")
