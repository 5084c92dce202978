"""The OpenAPI document's error responses describe the envelope the server really sends (issue 29 item 7).

flask-smorest's default error schema (`{code: integer, status, message, errors}`, no other property)
made every error a generated client received parse into an empty object. Here real error answers of
many kinds are validated against the schema the document gives for that operation and status (or
its `default`), as schemathesis's response-schema check does.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest

from tests.factories import auth_headers, make_device, make_token, make_user


def _schema_for(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    response = responses.get(str(status)) or responses["default"]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    # The components travel with the schema, so its $refs resolve.
    return {**schema, "components": document["components"]}


def test_the_error_schema_is_the_envelope(client) -> None:
    document = client.get("/api/openapi.json").get_json()
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    body = document["components"]["schemas"][error["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert set(body["required"]) == {"code", "message", "fields"}
    assert body["properties"]["code"]["type"] == "string"


def test_real_error_answers_validate_against_the_documented_schema(client, session) -> None:
    coordinator = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))
    revoked = make_device(session, revoked=True)
    session.commit()
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        # (OpenAPI path, method, real path, request options)
        ("/api/v1/teams", "get", "/api/v1/teams", {}),  # 401
        ("/api/v1/teams", "get", "/api/v1/teams", {"headers": {"Authorization": "Bearer nope"}}),  # 401
        ("/api/v1/aggregates", "get", "/api/v1/aggregates?indicator=nope", {"headers": coordinator}),  # 422
        ("/api/v1/auth/token", "post", "/api/v1/auth/token", {"data": b"{", "content_type": "application/json"}),
        ("/api/v1/auth/token", "post", "/api/v1/auth/token", {"json": {"username": "x", "password": "y"}}),
        ("/api/v1/auth/token", "post", "/api/v1/auth/token", {"data": b"x", "content_type": "text/plain"}),
        ("/api/v1/devices/{device_id}/revoke", "post", "/api/v1/devices/nope/revoke", {"headers": coordinator}),
        ("/api/v1/sync/pull", "get", "/api/v1/sync/pull?stream=records", {"headers": revoked.headers}),  # + wipe
        ("/api/v1/teams/{team_id}/enrollments", "post", "/api/v1/teams/tn-nowhere/enrollments",
         {"headers": coordinator, "json": {"username": "x"}}),
        ("/api/v1/users", "post", "/api/v1/users", {"headers": coordinator, "json": {"username": 1}}),
    ]
    document = client.get("/api/openapi.json").get_json()
    seen = set()
    for path, method, real, options in cases:
        answer = client.open(real, method=method.upper(), **options)
        assert 400 <= answer.status_code < 500, (real, answer.status_code)
        seen.add(answer.status_code)
        body = json.loads(answer.get_data(as_text=True))
        validator = jsonschema_rs.validator_for(_schema_for(document, path, method, answer.status_code))
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, (method, real, answer.status_code, body, errors)
    assert {400, 401, 403, 404, 415, 422} <= seen


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 415, 422, 429])
def test_every_documented_status_refers_to_the_envelope(client, status) -> None:
    """No operation documents an error body of another shape."""
    document = client.get("/api/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):  # the path's own `parameters`
                continue
            response = operation.get("responses", {}).get(str(status))
            if response is None:
                continue
            if "$ref" in response:
                response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status, schema)
