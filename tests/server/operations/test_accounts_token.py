"""`POST /api/v1/auth/token`: passwords for tokens, the same 401 for every wrong answer, rate limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from server.models import ApiToken, AuthFailure
from server.operations import accounts
from server.operations.accounts import LOGIN_ADDRESS, LOGIN_PAIR, LOGIN_USER, forget_login_failures
from server.persistence.timeutil import utcnow
from server.web.auth import USER_TOKEN_PREFIX, hash_secret
from server.web.ratelimit import Backoff, record_failure, retry_after
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


def _age_failures(session, seconds: float) -> None:
    """Move every recorded failure `seconds` into the past (time passing, without sleeping)."""
    session.execute(update(AuthFailure).values(at=AuthFailure.at - timedelta(seconds=seconds)))


@pytest.fixture(autouse=True)
def slow_backoff(monkeypatch) -> Backoff:
    """The login limits with a 60 s first delay, so the seconds Argon2 takes on a busy machine cannot
    let a test's next request through by accident (the doubling itself is tested with exact times)."""
    for name in ("LOGIN_PAIR", "LOGIN_USER", "LOGIN_ADDRESS"):
        limit = getattr(accounts, name)
        monkeypatch.setattr(accounts, name, replace(limit, base=timedelta(seconds=60),
                                                    cap=max(limit.cap, timedelta(seconds=60))))
    return accounts.LOGIN_PAIR


def test_repeated_failures_back_off_instead_of_locking(client, session, slow_backoff) -> None:
    user = make_user(session)
    for _ in range(slow_backoff.free):
        assert login(client, user.username, "wrong-password").status_code == 401

    blocked = login(client, user.username)  # the right password waits too: checked before it

    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert 50 <= int(blocked.headers["Retry-After"]) <= 60
    # A 429 is not a new failure: the wait does not extend itself.
    assert session.scalar(select(func.count()).select_from(AuthFailure)
                          .where(AuthFailure.key.startswith("login:pair:"))) == slow_backoff.free
    _age_failures(session, 61)
    assert login(client, user.username).status_code == 200


def test_the_wait_doubles_with_each_further_failure_up_to_the_cap(session) -> None:
    now = utcnow()
    limit = replace(LOGIN_PAIR, key="login:pair:test@192.0.2.1")
    waits = []
    for _ in range(LOGIN_PAIR.free + 12):
        record_failure(session, [limit], now)
        waits.append(retry_after(session, [limit], now))
        now += timedelta(seconds=waits[-1] or 0)  # the client waits exactly as long as told
    assert waits[:LOGIN_PAIR.free - 1] == [None] * (LOGIN_PAIR.free - 1)
    assert waits[LOGIN_PAIR.free - 1:LOGIN_PAIR.free + 4] == [2, 4, 8, 16, 32]
    assert max(wait or 0 for wait in waits) == LOGIN_PAIR.cap.total_seconds()
    # Halfway through a wait, half of it is left.
    assert retry_after(session, [limit], now - timedelta(seconds=450)) == 450


def test_a_strangers_failures_from_another_address_do_not_block_the_real_user(client, session) -> None:
    user = make_user(session)
    answers = {login(client, user.username, "stranger-guess", address="203.0.113.66").status_code
               for _ in range(LOGIN_PAIR.free + 10)}
    assert answers == {401, 429}

    assert login(client, user.username, address="198.51.100.7").status_code == 200


def test_the_right_password_clears_its_own_typos(client, session) -> None:
    user = make_user(session)
    for _ in range(LOGIN_PAIR.free - 1):
        login(client, user.username, "typo-password")
    assert login(client, user.username).status_code == 200
    assert session.scalar(select(func.count()).select_from(AuthFailure)
                          .where(AuthFailure.key.startswith("login:pair:"))) == 0
    # ... so the next typo after that costs nothing.
    assert login(client, user.username, "typo-password").status_code == 401
    assert login(client, user.username).status_code == 200


def test_a_guesser_spread_over_many_addresses_is_slowed_per_username(client, session) -> None:
    user = make_user(session)
    for attempt in range(LOGIN_USER.free):
        assert login(client, user.username, "wrong-password", address=f"203.0.113.{attempt}").status_code == 401

    blocked = login(client, user.username, address="203.0.113.200")

    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60


def test_failures_per_address_are_slowed_across_usernames(client, session) -> None:
    for attempt in range(LOGIN_ADDRESS.free):
        assert login(client, f"guess-{attempt}", "wrong-password", address="192.0.2.50").status_code == 401
    user = make_user(session)

    assert login(client, user.username, address="192.0.2.50").status_code == 429
    assert login(client, user.username, address="192.0.2.51").status_code == 200


def test_behind_one_trusted_proxy_clients_are_limited_separately(app, client, session, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", 1)
    user = make_user(session)
    proxy = "10.0.0.5"
    for _ in range(LOGIN_PAIR.free):
        response = client.post(TOKEN_URL, json={"username": user.username, "password": "wrong-password"},
                               headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": proxy})
        assert response.status_code == 401
    same = client.post(TOKEN_URL, json={"username": user.username, "password": DEFAULT_PASSWORD},
                       headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": proxy})
    # A client that wrote its own X-Forwarded-For: the proxy appended the real address, which counts.
    other = client.post(TOKEN_URL, json={"username": user.username, "password": DEFAULT_PASSWORD},
                        headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.23"},
                        environ_base={"REMOTE_ADDR": proxy})

    assert same.status_code == 429
    assert other.status_code == 200
    assert session.scalar(select(func.count()).select_from(AuthFailure)
                          .where(AuthFailure.key == f"login:addr:{proxy}")) == 0


def test_without_trusted_proxies_a_spoofed_forwarded_for_is_ignored(client, session) -> None:
    user = make_user(session)
    for attempt in range(LOGIN_PAIR.free):
        response = client.post(TOKEN_URL, json={"username": user.username, "password": "wrong-password"},
                               headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
                               environ_base={"REMOTE_ADDR": "203.0.113.77"})
        assert response.status_code == 401

    spoofed = client.post(TOKEN_URL, json={"username": user.username, "password": DEFAULT_PASSWORD},
                          headers={"X-Forwarded-For": "198.51.100.250"}, environ_base={"REMOTE_ADDR": "203.0.113.77"})

    assert spoofed.status_code == 429
    assert session.scalar(select(func.count()).select_from(AuthFailure)
                          .where(AuthFailure.key == "login:addr:203.0.113.77")) == LOGIN_PAIR.free


def test_forgetting_a_users_failures_unblocks_them(client, session) -> None:
    user = make_user(session)
    for _ in range(LOGIN_PAIR.free):
        login(client, user.username, "wrong-password")
    assert login(client, user.username).status_code == 429
    assert forget_login_failures(session, user.username.upper()) == 2 * LOGIN_PAIR.free
    assert login(client, user.username).status_code == 200


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
