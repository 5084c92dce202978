"""`POST /api/v1/auth/token`: passwords for tokens, the same 401 for every wrong answer, rate limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from server.accounts import LOGIN_ATTEMPTS_PER_ADDRESS, LOGIN_ATTEMPTS_PER_USERNAME
from server.auth import USER_TOKEN_PREFIX, hash_secret
from server.models import ApiToken, AuthFailure
from server.timeutil import utcnow
from tests.factories import DEFAULT_PASSWORD, auth_headers, make_token, make_user

TOKEN_URL = "/api/v1/auth/token"


def login(client, username: str, password: str = DEFAULT_PASSWORD, address: str = "198.51.100.7"):
    return client.post(TOKEN_URL, json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_a_coordinator_or_admin_gets_a_working_token_stored_only_as_a_hash(client, session, role: str) -> None:
    user = make_user(session, role=role)
    before = utcnow().replace(microsecond=0)

    response = login(client, user.username)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"token", "expires_at", "role"}
    assert body["role"] == role
    assert body["token"].startswith(USER_TOKEN_PREFIX)
    stored = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert stored.token_hash == hash_secret(body["token"]) != body["token"]
    # TOKEN_TTL_HOURS (12 by default) from now, on the wire with a Z.
    assert body["expires_at"].endswith("Z")
    assert before + timedelta(hours=12) <= stored.expires_at <= utcnow() + timedelta(hours=12)
    assert client.get("/api/v1/teams", headers=auth_headers(body["token"])).status_code == 200


def test_the_username_is_case_insensitive(client, session) -> None:
    user = make_user(session, username="amira.k")
    assert login(client, "  Amira.K ").status_code == 200
    assert user.username == "amira.k"


def test_unknown_user_and_wrong_password_get_the_same_401(client, session) -> None:
    user = make_user(session)
    wrong_password = login(client, user.username, "not the password at all")
    unknown_user = login(client, "nobody-here")

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.get_json() == unknown_user.get_json()
    assert wrong_password.get_json()["error"]["code"] == "invalid_credentials"


def test_an_inactive_user_gets_the_same_401(client, session) -> None:
    user = make_user(session)
    user.active = False
    session.flush()
    response = login(client, user.username)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_credentials"


def test_a_field_worker_gets_403_and_no_token(client, session) -> None:
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    response = login(client, worker.username)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "role_not_allowed"
    assert session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == worker.id)) == 0


def test_expired_tokens_of_the_user_are_dropped_at_login(client, session) -> None:
    user = make_user(session)
    old = make_token(session, user, expired=True)
    assert login(client, user.username).status_code == 200
    assert session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(old))) is None


def test_failures_per_username_are_rate_limited_even_for_the_right_password(client, session) -> None:
    user = make_user(session)
    for attempt in range(LOGIN_ATTEMPTS_PER_USERNAME):
        # A different address each time: the per-username limit alone must stop this.
        assert login(client, user.username, "wrong-password", address=f"203.0.113.{attempt}").status_code == 401

    blocked = login(client, user.username, address="203.0.113.99")

    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    retry_after = int(blocked.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    # A 429 is not a new failure: the lock does not extend itself.
    assert session.scalar(select(func.count()).select_from(AuthFailure)
                          .where(AuthFailure.key == f"login:user:{user.username}")) == LOGIN_ATTEMPTS_PER_USERNAME


def test_the_window_slides_so_the_right_password_works_again(client, session) -> None:
    user = make_user(session)
    for _ in range(LOGIN_ATTEMPTS_PER_USERNAME):
        login(client, user.username, "wrong-password")
    assert login(client, user.username).status_code == 429

    # Move the oldest failure out of the 15-minute window: one attempt is free again.
    oldest = session.scalar(select(func.min(AuthFailure.id)).where(AuthFailure.key == f"login:user:{user.username}"))
    session.execute(update(AuthFailure).where(AuthFailure.id == oldest).values(at=utcnow() - timedelta(minutes=16)))

    assert login(client, user.username).status_code == 200


def test_failures_per_address_are_rate_limited_across_usernames(client, session) -> None:
    for attempt in range(LOGIN_ATTEMPTS_PER_ADDRESS):
        assert login(client, f"guess-{attempt}", "wrong-password", address="192.0.2.50").status_code == 401
    user = make_user(session)

    assert login(client, user.username, address="192.0.2.50").status_code == 429
    assert login(client, user.username, address="192.0.2.51").status_code == 200


def test_a_malformed_request_is_not_counted_as_a_failure(client, session) -> None:
    client.post(TOKEN_URL, json={"username": "x"}, environ_base={"REMOTE_ADDR": "192.0.2.60"})
    assert session.scalar(select(func.count()).select_from(AuthFailure)
                          .where(AuthFailure.key == "login:addr:192.0.2.60")) == 0


# Under the 5 MB body limit, so the schema's Length rules (not the transport) answer.
HUGE = "x" * 1_000_000


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"username", "password"}),
        ({"username": "a"}, {"password"}),
        ({"username": 5, "password": ["x"]}, {"username", "password"}),
        ({"username": None, "password": None}, {"username", "password"}),
        ({"username": "", "password": ""}, {"username", "password"}),
        ({"username": "a", "password": "b", "remember": True}, {"remember"}),
        ({"username": HUGE, "password": HUGE}, {"username", "password"}),
        ([], {"_schema"}),
        ("just a string", {"_schema"}),
    ],
    ids=["empty", "missing", "wrong-types", "nulls", "blank", "unknown-field", "1MB", "array", "string"],
)
def test_bad_bodies_get_422_naming_the_fields(client, body, fields: set[str]) -> None:
    response = client.post(TOKEN_URL, json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == fields


def test_a_10mb_body_is_a_413_envelope(client) -> None:
    response = client.post(TOKEN_URL, json={"username": "x" * 10_000_000, "password": "y"})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_invalid_json_is_a_400_envelope(client) -> None:
    response = client.post(TOKEN_URL, data='{"username": "a", ', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_request"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_a_body_that_is_not_json_is_a_415_envelope(client, content_type: str | None) -> None:
    # Without the check webargs would answer 422 "missing field", hiding the real mistake.
    response = client.post(TOKEN_URL, data='{"username": "a", "password": "b"}', content_type=content_type)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
