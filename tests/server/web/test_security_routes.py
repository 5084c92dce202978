"""Security checks over the whole route map: nothing is reachable without the right credential.

Routes are enumerated from `app.url_map`, not listed by hand, so a route added tomorrow is checked
tomorrow: every route that is not declared public must refuse a missing token, an unknown token
of either kind, an expired user token and a revoked device, with the error envelope; a device
token opens no user route and a user token no device route. Secrets (passwords, tokens, enrollment
codes, token hashes) appear only in the one response that issues them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from server.web.auth import DEVICE, DEVICE_KEY, DEVICE_TOKEN_PREFIX, PUBLIC, USER_TOKEN_PREFIX, hash_secret, new_token
from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
)


@dataclass(frozen=True)
class Route:
    rule: str
    method: str
    endpoint: str
    audiences: frozenset[str]

    @property
    def url(self) -> str:
        # Any value reaches the auth hook: it runs before the view looks anything up.
        return re.sub(r"<[^>]+>", "x", re.sub(r"<int[(:][^>]*>", "1", self.rule))

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def routes(app: Flask) -> Iterator[Route]:
    for rule in app.url_map.iter_rules():
        assert isinstance(rule, Rule)
        access = app.view_functions[rule.endpoint]._fieldsync_access
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield Route(rule.rule, method, rule.endpoint, access.audiences)


def protected(app: Flask) -> list[Route]:
    # OpenRosa routes take their device key in the URL, not a header, and answer in OpenRosa's XML:
    # tests/server/integrations/test_openrosa.py runs the same checks over them.
    return [route for route in routes(app) if PUBLIC not in route.audiences and DEVICE_KEY not in route.audiences]


def call(client: FlaskClient, route: Route, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.open(route.url, method=route.method, headers=headers or {})


def assert_refused(response, status: int, code: str, route: Route) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, f"{route}: {response.status_code} {response.get_data(as_text=True)[:200]}"
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "fields"}, route
    assert body["error"]["code"] == code, f"{route}: {body}"


def test_the_route_map_has_protected_routes_of_both_kinds(app: Flask) -> None:
    # Guards the tests below against silently checking nothing.
    kinds = {DEVICE in route.audiences for route in protected(app)}
    assert kinds == {True, False}
    assert len(protected(app)) >= 14


def test_every_protected_route_refuses_a_missing_or_malformed_credential(app: Flask, client: FlaskClient) -> None:
    for route in protected(app):
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            response = call(client, route, headers)
            assert_refused(response, 401, "unauthorized", route)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), route


@pytest.mark.parametrize("token", [new_token(USER_TOKEN_PREFIX), new_token(DEVICE_TOKEN_PREFIX), "' OR 1=1 --"],
                         ids=["unknown-user-token", "unknown-device-token", "sql-like"])
def test_every_protected_route_refuses_an_unknown_token(app: Flask, client: FlaskClient, token: str) -> None:
    for route in protected(app):
        assert_refused(call(client, route, auth_headers(token)), 401, "invalid_token", route)


def test_every_protected_route_refuses_an_expired_token(app: Flask, client: FlaskClient, session) -> None:
    for role in ("coordinator", "admin"):
        token = make_token(session, make_user(session, role=role), expired=True)
        session.commit()  # each refusal rolls back: keep the setup (the test's outer transaction stays)
        for route in protected(app):
            assert_refused(call(client, route, auth_headers(token)), 401, "token_expired", route)


def test_every_protected_route_refuses_a_revoked_device(app: Flask, client: FlaskClient, session) -> None:
    device = make_device(session, revoked=True)
    session.commit()  # keep the setup through the refusals' rollbacks
    for route in protected(app):
        response = call(client, route, device.headers)
        assert_refused(response, 403, "device_revoked", route)
        assert response.get_json()["wipe"] is True


def test_a_device_token_opens_no_user_route(app: Flask, client: FlaskClient, session) -> None:
    device = make_device(session)
    session.commit()  # keep the setup through the refusals' rollbacks
    for route in protected(app):
        if DEVICE not in route.audiences:
            assert_refused(call(client, route, device.headers), 403, "forbidden", route)


@pytest.mark.parametrize("role", ["coordinator", "admin", "field_worker"])
def test_a_user_token_opens_no_device_route(app: Flask, client: FlaskClient, session, role: str) -> None:
    team = "ly-mmt-tripoli" if role == "field_worker" else None
    token = make_token(session, make_user(session, role=role, team_id=team))
    session.commit()  # keep the setup through the refusals' rollbacks
    for route in protected(app):
        # A field worker's token (never issued, but possible by mistake) opens nothing at all.
        if DEVICE in route.audiences or role == "field_worker":
            assert_refused(call(client, route, auth_headers(token)), 403, "forbidden", route)


def test_secrets_appear_only_in_the_response_that_issues_them(app: Flask, client: FlaskClient, session) -> None:
    coordinator = make_user(session, role="coordinator")
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    session.commit()  # keep the setup through the error responses' rollbacks
    login = client.post("/api/v1/auth/token", json={"username": coordinator.username, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200
    token = login.get_json()["token"]
    headers = auth_headers(token)
    issued = client.post("/api/v1/teams/ly-mmt-tripoli/enrollments", json={"username": worker.username},
                         headers=headers)
    assert issued.status_code == 201
    code = issued.get_json()["code"]
    enrolled = client.post("/api/v1/devices/enroll", json={"code": code, "label": "tab", "app_version": "1.4.0"})
    assert enrolled.status_code == 201
    device_token = enrolled.get_json()["token"]
    device_headers = auth_headers(device_token)
    # Some data everywhere a coordinator looks: a record, a rejected (quarantined) item.
    created = create_mutation()
    rejected = {**create_mutation(), "entity": "nope"}
    body = push_body([created, rejected])
    push = {**device_headers, "Idempotency-Key": body["batch_id"]}
    pushed = client.post("/api/v1/sync/push", json=body, headers=push)
    assert pushed.status_code == 200

    secrets = {
        "password": DEFAULT_PASSWORD,
        "user token": token,
        "device token": device_token,
        "enrollment code": code,
        "user token hash": hash_secret(token),
        "device token hash": hash_secret(device_token),
    }
    answers = {
        "teams": client.get("/api/v1/teams", headers=headers),
        "devices": client.get("/api/v1/devices", headers=headers),
        "quarantine": client.get("/api/v1/quarantine", headers=headers),
        "conflicts": client.get("/api/v1/conflicts", headers=headers),
        "history": client.get(f"/api/v1/records/{created['id']}/history", headers=headers),
        "hello": client.get("/api/v1/sync/hello", headers=device_headers),
        "pull records": client.get("/api/v1/sync/pull?stream=records", headers=device_headers),
        "push": pushed,
        "replayed push": client.post("/api/v1/sync/push", json=body, headers=push),
        "wrong password": client.post("/api/v1/auth/token",
                                      json={"username": coordinator.username, "password": DEFAULT_PASSWORD + "x"}),
        "used code": client.post("/api/v1/devices/enroll", json={"code": code, "label": "t", "app_version": "1"}),
        "openapi": client.get("/api/openapi.json"),
    }
    for name, response in answers.items():
        assert response.status_code < 500, name
        text = response.get_data(as_text=True) + json.dumps(dict(response.headers))
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} appears in the {name} response"


def test_a_revoked_push_is_refused_but_kept_and_the_token_stays_dead(client: FlaskClient, session) -> None:
    device = make_device(session)
    coordinator = make_token(session, make_user(session))
    session.commit()  # the 403 rolls back: keep the setup
    revoked = client.post(f"/api/v1/devices/{device.device.id}/revoke", headers=auth_headers(coordinator))
    assert revoked.status_code == 200
    body = push_body([create_mutation()])
    response = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert response.status_code == 403 and response.get_json()["wipe"] is True
    quarantine = client.get("/api/v1/quarantine", headers=auth_headers(coordinator)).get_json()["items"]
    assert any(item.get("reason") == "device_revoked" for item in quarantine)
    assert client.get("/api/v1/sync/hello", headers=device.headers).status_code == 403
