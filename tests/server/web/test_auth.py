"""The authentication hook: who may call what, and what every wrong credential gets."""

from __future__ import annotations

import pytest
from flask import Flask

from server.web.auth import DEVICE_TOKEN_PREFIX, USER_TOKEN_PREFIX, new_token
from tests.factories import auth_headers, make_device, make_token, make_user

COORDINATOR_ROUTE = "/api/v1/teams"
DEVICE_ROUTE = "/api/v1/sync/hello"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"]["code"] == code
    return body


@pytest.mark.parametrize("route", [COORDINATOR_ROUTE, DEVICE_ROUTE])
def test_no_token_is_401_with_a_bearer_challenge(client, route: str) -> None:
    response = client.get(route)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "fsu_abc", f"Bearer{new_token(USER_TOKEN_PREFIX)}"],
    # Fixed ids: a fresh token in an id would differ between pytest-xdist's workers.
    ids=["bearer-alone", "bearer-space", "basic", "token-scheme", "no-scheme", "no-space-after-bearer"],
)
def test_a_malformed_authorization_header_is_401(client, header: str) -> None:
    assert_error(client.get(COORDINATOR_ROUTE, headers={"Authorization": header}), 401, "unauthorized")


@pytest.mark.parametrize(
    "token",
    [new_token(USER_TOKEN_PREFIX), new_token(DEVICE_TOKEN_PREFIX), "not-a-fieldsync-token", USER_TOKEN_PREFIX],
    ids=["unknown-user-token", "unknown-device-token", "no-prefix", "prefix-only"],
)
def test_an_unknown_token_is_401(client, token: str) -> None:
    assert_error(client.get(COORDINATOR_ROUTE, headers=auth_headers(token)), 401, "invalid_token")


def test_an_expired_token_is_401(client, session) -> None:
    token = make_token(session, make_user(session), expired=True)
    assert_error(client.get(COORDINATOR_ROUTE, headers=auth_headers(token)), 401, "token_expired")


def test_the_token_of_a_deactivated_user_is_401(client, session) -> None:
    user = make_user(session)
    token = make_token(session, user)
    user.active = False
    session.flush()
    assert_error(client.get(COORDINATOR_ROUTE, headers=auth_headers(token)), 401, "invalid_token")


def test_a_revoked_device_gets_403_with_wipe(client, session) -> None:
    device = make_device(session, revoked=True)
    body = assert_error(client.get(DEVICE_ROUTE, headers=device.headers), 403, "device_revoked")
    assert body["wipe"] is True


def test_a_device_token_on_a_coordinator_route_is_403(client, session) -> None:
    device = make_device(session)
    assert_error(client.get(COORDINATOR_ROUTE, headers=device.headers), 403, "forbidden")


@pytest.mark.parametrize("role", ["coordinator", "admin", "field_worker"])
def test_a_user_token_on_a_device_route_is_403(client, session, role: str) -> None:
    team = "ly-mmt-tripoli" if role == "field_worker" else None
    token = make_token(session, make_user(session, role=role, team_id=team))
    assert_error(client.get(DEVICE_ROUTE, headers=auth_headers(token)), 403, "forbidden")


def test_a_field_worker_token_on_a_coordinator_route_is_403(client, session) -> None:
    # Field workers are never issued tokens; one made by mistake still opens nothing.
    token = make_token(session, make_user(session, role="field_worker", team_id="ly-mmt-tripoli"))
    assert_error(client.get(COORDINATOR_ROUTE, headers=auth_headers(token)), 403, "forbidden")


def test_the_right_tokens_pass(client, session) -> None:
    device = make_device(session)
    coordinator = make_token(session, make_user(session))
    assert client.get(DEVICE_ROUTE, headers=device.headers).status_code == 200
    assert client.get(COORDINATOR_ROUTE, headers=auth_headers(coordinator)).status_code == 200
    # The scheme is case-insensitive (RFC 7235).
    assert client.get(COORDINATOR_ROUTE, headers={"Authorization": f"bearer {coordinator}"}).status_code == 200


def test_every_route_of_the_accounts_blueprint_declares_who_may_call_it(app: Flask) -> None:
    declared = {
        endpoint: sorted(view._fieldsync_access.audiences)
        for endpoint, view in app.view_functions.items()
        if endpoint.startswith("accounts.")
    }
    assert declared == {
        "accounts.issue_token": ["public"],
        "accounts.logout": ["admin", "coordinator"],
        "accounts.enroll_device": ["public"],
        "accounts.list_teams": ["admin", "coordinator"],
        "accounts.create_enrollment": ["admin", "coordinator"],
        "accounts.list_devices": ["admin", "coordinator"],
        "accounts.revoke_device": ["admin", "coordinator"],
    }
