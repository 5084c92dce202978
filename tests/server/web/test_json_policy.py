"""The one JSON decode policy (server/web/http_body.py `decode_json`) and the answers that hang on it.

Each class here was a 500 before (issue 13 §2): lone UTF-16 surrogate escapes, numbers beyond the
range of a double, a mutation whose `entity` or `kind` is an array or object, and a revoked device
sending anything malformed. Duplicate keys were silently "last one wins". Now: 400
`malformed_request` in the envelope for the body classes, a rejected item for a bad mutation, and
403 `device_revoked` + wipe for a revoked device whatever it sends. Plus `schema_unsupported`.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import QuarantinedMutation, Record, SyncBatch
from server.web.http_body import JsonPolicyError, decode_json
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
)

PUSH = "/api/v1/sync/push"


def body_text(body: dict[str, Any]) -> str:
    return json.dumps(body)


def with_raw(body: dict[str, Any], name: str, raw_json: str) -> str:
    """The body's JSON text with one top-level value replaced by raw JSON text (as a client could send)."""
    marker = "__RAW_MARKER__"
    return json.dumps({**body, name: marker}).replace(json.dumps(marker), raw_json)


# --- the decoder itself -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\ude00a"', '{"\\ud800": 1}', '["ok", {"k": ["\\udbff"]}]',
    '"\\ude00\\ud83d"',  # low then high: two lone halves, not a pair
    "1e400", "-1e400", "[1e400]", '{"a": 1.7976931348623159e308}', "1" + "0" * 400, "-" + "9" * 320,
    "NaN", "Infinity", "-Infinity", '{"a": 1, "a": 1}', '{"a": {"b": 1, "b": 2}}', '[{"x": 1, "y": 2, "x": 3}]',
])
def test_the_policy_refuses_each_class(text: str) -> None:
    with pytest.raises(JsonPolicyError):
        decode_json(text)


@pytest.mark.parametrize(("text", "value"), [
    ('"\\ud83d\\ude00"', "\U0001f600"),  # a valid pair is one character
    ('"\\\\ud800"', "\\ud800"),  # an escaped backslash, then text: no surrogate at all
    ("1e308", 1e308), ("1e-400", 0.0), ("-0.0", -0.0), ("9" * 300, int("9" * 300)),
    ('{"a": 1, "b": {"a": 2}}', {"a": 1, "b": {"a": 2}}),  # the same key in two objects is fine
])
def test_the_policy_keeps_what_is_valid(text: str, value: Any) -> None:
    assert decode_json(text) == value


# --- every body class, on every POST route ---------------------------------------------------------

@pytest.fixture
def actors(session: Session) -> tuple[EnrolledDevice, dict[str, str]]:
    device = make_device(session)
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()
    return device, coordinator


POLICY_BODIES = [
    ("lone high surrogate", '{"username": "\\ud800", "password": "x", "reason": "x"}'),
    ("lone low surrogate", '{"username": "a\\udc00", "password": "x"}'),
    ("surrogate key", '{"\\udbff": 1}'),
    ("1e400", '{"username": 1e400}'),
    ("-1e400", '{"use": -1e400}'),
    ("huge integer", '{"label": ' + "9" * 400 + "}"),
    ("big exponent in a list", '{"mutation": [1E+999]}'),
    ("duplicate key", '{"username": "a", "username": "b"}'),
    ("NaN", '{"use": NaN}'),
]
POST_ROUTES = ["/api/v1/sync/push", "/api/v1/auth/token", "/api/v1/devices/enroll",
               "/api/v1/teams/ly-mmt-tripoli/enrollments", "/api/v1/quarantine/1/discard",
               "/api/v1/conflicts/1/resolve", "/api/v1/quarantine/1/apply"]


@pytest.mark.parametrize(("what", "text"), POLICY_BODIES, ids=[b[0] for b in POLICY_BODIES])
def test_each_class_is_a_400_in_the_envelope_on_every_post_route(client: FlaskClient, actors, what: str,
                                                                  text: str) -> None:
    device, coordinator = actors
    for path in POST_ROUTES:
        headers = {**device.headers, "Idempotency-Key": "k"} if "sync" in path else coordinator
        response = client.post(path, data=text.encode(), content_type="application/json", headers=headers)
        assert response.status_code == 400, f"{path} {what}: {response.get_data(as_text=True)[:200]}"
        error = response.get_json()["error"]
        assert error["code"] == "malformed_request" and error["message"], (path, what)


def test_a_lone_surrogate_names_its_field(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/token", data=b'{"username": "ok", "password": "p\\ud800"}',
                           content_type="application/json")
    assert response.status_code == 400
    assert list(response.get_json()["error"]["fields"]) == ["password"]


@pytest.mark.parametrize("text", [
    '[{"indicator": "health_consultations", "indicator": "health_consultations", "text": "in {year}"}]',
    '[{"indicator": "health_consultations", "filters": {"a": 1, "a": 1}, "text": "in {year}"}]',
])
def test_a_duplicate_key_inside_a_list_body_is_a_400(client: FlaskClient, actors, text: str) -> None:
    """A list body (PUT a country's whole statements list) is decoded by the same policy: a key twice in
    one of its objects, or in an object inside one (a statement's `filters`), is 400 before validation."""
    _, coordinator = actors
    path = "/api/v1/countries/LY/statements"
    before = client.get(path, headers=coordinator).get_json()
    response = client.put(path, data=text.encode(), content_type="application/json", headers=coordinator)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_request"
    assert client.get(path, headers=coordinator).get_json() == before


def _push_text(client: FlaskClient, device: EnrolledDevice, body: dict[str, Any], text: str, **headers: str):
    return client.post(PUSH, data=text.encode(), content_type="application/json",
                       headers={**push_headers(device, body), **headers})


@pytest.mark.parametrize(("what", "name", "raw"), [
    ("app_version lone surrogate", "app_version", '"1.\\ud800"'),
    ("mutations [1e400]", "mutations", "[1e400]"),
    ("mutation field 1e400", "mutations", None),
    ("mutation data lone surrogate", "mutations", None),
    ("duplicate key in a mutation", "mutations", None),
    ("schema_version 1e400", "schema_version", "1e400"),
])
def test_push_bodies_of_each_class_are_400_and_store_nothing(client: FlaskClient, session: Session, actors,
                                                             what: str, name: str, raw: str | None) -> None:
    device, _ = actors
    mutation = create_mutation()
    body = push_body([mutation])
    if raw is None:
        text = json.dumps(mutation)
        if "1e400" in what:
            raw = "[" + text[:-1] + ', "base_version": 1e400}]'
        elif "surrogate" in what:
            raw = "[" + text.replace('"sex": "f"', '"sex": "\\udead"') + "]"
        else:
            raw = "[" + text[:-1] + ', "kind": "void"}]'
    response = _push_text(client, device, body, with_raw(body, name, raw))
    assert response.status_code == 400, what
    assert response.get_json()["error"]["code"] == "malformed_request"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Record).where(Record.device_id == device.device.id)) == 0
    assert session.scalar(select(func.count()).select_from(QuarantinedMutation)
                          .where(QuarantinedMutation.device_id == device.device.id)) == 0


def test_a_valid_surrogate_pair_is_accepted(client: FlaskClient, session: Session, actors) -> None:
    device, _ = actors
    body = push_body([create_mutation()], app_version="1.4.0")
    text = with_raw(body, "app_version", '"1.4 \\ud83d\\ude00"')
    response = _push_text(client, device, body, text)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [r["status"] for r in response.get_json()["results"]] == ["applied"]


# --- any JSON type in any mutation field: a rejected item, never a 500 -----------------------------

WRONG_VALUES: list[Any] = [["consultation"], {"x": 1}, [], {}, 1, 1.5, True, False, None, "", "x" * 600]
MUTATION_FIELDS = ["op_id", "kind", "entity", "id", "data", "base_version", "reason"]


@pytest.mark.parametrize("field", MUTATION_FIELDS)
def test_a_mutation_field_of_any_json_type_is_a_rejected_item(client: FlaskClient, actors, field: str) -> None:
    device, _ = actors
    good = create_mutation("distribution")
    mutations = [{**create_mutation(), field: value} for value in WRONG_VALUES]
    body = push_body([*mutations, good])
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    results = response.get_json()["results"]
    assert results[-1]["status"] == "applied"  # one bad item never blocks the rest
    for value, result in zip(WRONG_VALUES, results[:-1], strict=True):
        if field in ("base_version", "reason") and value is None:
            assert result["status"] == "applied"  # a create may have no reason / null base_version
        elif field == "data" and value == {}:
            assert result["status"] == "rejected"  # a create needs its fields
        elif field == "reason" and value == "":
            assert result["status"] == "applied"
        else:
            assert result["status"] == "rejected", (field, value, result)
            assert field in result["errors"] or any(key.startswith(field) for key in result["errors"]), result


def test_entity_and_kind_as_containers_are_rejected_for_a_revoked_device_too(client: FlaskClient,
                                                                            session: Session) -> None:
    revoked = make_device(session, revoked=True)
    session.commit()
    good = create_mutation()
    body = push_body([{**create_mutation(), "entity": ["x"]}, {**create_mutation(), "kind": {"a": 1}}, good])
    response = client.post(PUSH, json=body, headers=push_headers(revoked, body))
    assert response.status_code == 403 and response.get_json()["wipe"] is True
    session.expire_all()
    kept = session.scalars(select(QuarantinedMutation.mutation)
                           .where(QuarantinedMutation.device_id == revoked.device.id)).all()
    assert kept == [good]  # only the well-formed item is kept


# --- a revoked device gets its wipe whatever it sends ----------------------------------------------

REVOKED_SENDS: list[tuple[str, bytes, dict[str, str]]] = [
    ("malformed JSON", b"{", {}),
    ("not JSON at all", b"\xff\xfe", {}),
    ("bad gzip", b"\x1f\x8bnot gzip", {"Content-Encoding": "gzip"}),
    ("truncated gzip", gzip.compress(b'{"batch_id": 1}')[:-6], {"Content-Encoding": "gzip"}),
    ("unknown coding", b"{}", {"Content-Encoding": "br"}),
    ("wrong content type", b"a=b", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("latin-1", b"{}", {"Content-Type": "application/json; charset=latin-1"}),
    ("lone surrogate", b'{"batch_id": "\\ud800"}', {}),
    ("1e400", b'{"mutations": [1e400]}', {}),
    ("duplicate keys", b'{"a": 1, "a": 2}', {}),
    ("NUL in the envelope", b'{"app_version": "\\u0000"}', {}),
    ("an array", b"[]", {}),
    ("a number", b"1", {}),
    ("null", b"null", {}),
    ("empty object", b"{}", {}),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, {}),
    ("schema_version above current", json.dumps({**push_body([]), "schema_version": 99}).encode(), {}),
]


@pytest.mark.parametrize(("what", "data", "headers"), REVOKED_SENDS, ids=[s[0] for s in REVOKED_SENDS])
def test_a_revoked_device_gets_403_wipe_whatever_it_sends(client: FlaskClient, session: Session, what: str,
                                                          data: bytes, headers: dict[str, str]) -> None:
    revoked = make_device(session, revoked=True)
    session.commit()
    all_headers = {**revoked.headers, "Content-Type": "application/json", "Idempotency-Key": "k", **headers}
    response = client.post(PUSH, data=data, headers=all_headers)
    assert response.status_code == 403, f"{what}: {response.get_data(as_text=True)[:200]}"
    payload = response.get_json()
    assert payload["error"]["code"] == "device_revoked" and payload["wipe"] is True


def test_a_revoked_device_gets_403_for_a_too_large_body_and_a_nul_in_the_query(app, client: FlaskClient,
                                                                               session: Session,
                                                                               monkeypatch) -> None:
    from config import Limits

    revoked = make_device(session, revoked=True)
    session.commit()
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS", Limits(push_max_bytes=1_000))
    body = push_body([create_mutation() for _ in range(10)])
    response = client.post(PUSH, json=body, headers=push_headers(revoked, body))
    assert response.status_code == 403 and response.get_json()["wipe"] is True
    response = client.post(PUSH + "?x=%00", json=push_body([]), headers={**revoked.headers, "Idempotency-Key": "k"})
    assert response.status_code == 403 and response.get_json()["wipe"] is True


def test_an_active_device_still_gets_the_body_errors(client: FlaskClient, actors) -> None:
    device, _ = actors
    for data, headers, status in [(b"{", {}, 400), (b"\x1f\x8bx", {"Content-Encoding": "gzip"}, 400),
                                  (b"a=b", {"Content-Type": "text/plain"}, 415)]:
        response = client.post(PUSH, data=data, headers={**device.headers, "Content-Type": "application/json",
                                                         "Idempotency-Key": "k", **headers})
        assert response.status_code == status


# --- schema_version above the server's current ---------------------------------------------------

@pytest.mark.parametrize("extra", [{}, {"new_envelope_field": "from a newer format"}])
def test_a_push_above_the_current_schema_is_422_schema_unsupported(client: FlaskClient, session: Session,
                                                                   actors, extra: dict[str, Any]) -> None:
    device, _ = actors
    current = client.get("/api/v1/sync/hello", headers=device.headers).get_json()["schema"]["current"]
    body = {**push_body([create_mutation()]), "schema_version": current + 1, **extra}
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "schema_unsupported" and "schema_version" in error["fields"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Record).where(Record.device_id == device.device.id)) == 0
    assert session.get(SyncBatch, body["batch_id"]) is None  # nothing remembered: resending later works
    body["schema_version"] = current
    body.pop("new_envelope_field", None)
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert [r["status"] for r in response.get_json()["results"]] == ["applied"]


# --- JSON inside list cursors goes through the same policy ---------------------------------------

@pytest.mark.parametrize("payload", ['[1, ["\\ud800", 1]]', "[1, [1e400, 1]]", '[1, {"a": 1, "a": 2}]'])
def test_a_list_cursor_holding_a_refused_class_is_a_422(client: FlaskClient, actors, payload: str) -> None:
    _, coordinator = actors
    cursor = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    for path in ("/api/v1/teams", "/api/v1/devices", "/api/v1/quarantine", "/api/v1/conflicts"):
        response = client.get(path, query_string={"cursor": cursor}, headers=coordinator)
        assert response.status_code == 422, (path, response.get_data(as_text=True)[:200])
        assert "cursor" in response.get_json()["error"]["fields"]
