"""Enrollment codes (`POST /teams/<id>/enrollments`) and device enrollment (`POST /devices/enroll`)."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from server.extensions import db
from server.models import Device, EnrollmentCode
from server.operations import accounts
from server.operations.accounts import create_enrollment_code
from server.persistence.timeutil import utcnow
from server.web.auth import DEVICE_TOKEN_PREFIX, Principal, hash_secret
from server.web.ratelimit import Backoff
from tests.factories import auth_headers, make_device, make_team, make_token, make_user

ENROLL_URL = "/api/v1/devices/enroll"
CODE_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


def enrollments_url(team_id: str = "ly-mmt-tripoli") -> str:
    return f"/api/v1/teams/{team_id}/enrollments"


@pytest.fixture
def coordinator_headers(session) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))


@pytest.fixture
def worker(session):
    return make_user(session, role="field_worker", team_id="ly-mmt-tripoli")


def new_code(client, headers: dict[str, str], username: str, team_id: str = "ly-mmt-tripoli") -> str:
    response = client.post(enrollments_url(team_id), json={"username": username}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["code"]


def enroll(client, code: str, address: str = "198.51.100.20", headers: dict[str, str] | None = None,
           **overrides: object):
    body = {"code": code, "label": "Tablet 7", "app_version": "1.4.0", **overrides}
    return client.post(ENROLL_URL, json=body, headers=headers or {}, environ_base={"REMOTE_ADDR": address})


# --- creating codes ------------------------------------------------------------------------------


def test_a_coordinator_creates_a_one_day_code_stored_only_as_a_hash(client, session, coordinator_headers,
                                                                      worker) -> None:
    response = client.post(enrollments_url(), json={"username": worker.username}, headers=coordinator_headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"code", "expires_at"}
    assert CODE_FORMAT.fullmatch(body["code"])
    stored = session.scalars(select(EnrollmentCode).where(EnrollmentCode.user_id == worker.id)).one()
    assert stored.code_hash == hash_secret(body["code"].replace("-", ""))
    assert stored.team_id == "ly-mmt-tripoli" and stored.used_at is None
    assert timedelta(hours=23, minutes=59) < stored.expires_at - utcnow() <= timedelta(hours=24)
    assert body["expires_at"].endswith("Z")


def test_an_admin_may_create_codes_in_any_country(client, session) -> None:
    team = make_team(session)
    tunis_worker = make_user(session, role="field_worker", team_id=team.id, countries=("TN",))
    admin = auth_headers(make_token(session, make_user(session, role="admin", countries=())))
    assert client.post(enrollments_url(team.id), json={"username": tunis_worker.username},
                       headers=admin).status_code == 201


def test_codes_are_random(session, worker) -> None:
    coordinator = Principal(kind="user", role="coordinator", user_id=worker.id, countries=frozenset({"LY"}))
    codes = {create_enrollment_code(session, coordinator, team_id="ly-mmt-tripoli", username=worker.username,
                                    now=utcnow()).code for _ in range(20)}
    assert len(codes) == 20


@pytest.mark.parametrize(
    ("who", "team_id"),
    [
        ("not-a-user", "ly-mmt-tripoli"),
        ("coordinator", "ly-mmt-tripoli"),
        ("other-team-worker", "ly-mmt-tripoli"),
        ("inactive-worker", "ly-mmt-tripoli"),
    ],
)
def test_the_username_must_be_an_active_field_worker_of_that_team(client, session, coordinator_headers,
                                                                   who: str, team_id: str) -> None:
    usernames = {
        "not-a-user": "nobody-at-all",
        "coordinator": make_user(session, role="coordinator").username,
        "other-team-worker": make_user(session, role="field_worker", team_id="ly-dcmt-sabha").username,
    }
    if who == "inactive-worker":
        inactive = make_user(session, role="field_worker", team_id=team_id)
        inactive.active = False
        session.flush()
        usernames[who] = inactive.username

    response = client.post(enrollments_url(team_id), json={"username": usernames[who]}, headers=coordinator_headers)

    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["username"]


def test_an_unknown_team_is_404(client, coordinator_headers, worker) -> None:
    response = client.post(enrollments_url("ly-no-such-team"), json={"username": worker.username},
                           headers=coordinator_headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_team_in_another_country_is_403(client, session, coordinator_headers) -> None:
    team = make_team(session)
    tunis_worker = make_user(session, role="field_worker", team_id=team.id, countries=("TN",))
    response = client.post(enrollments_url(team.id), json={"username": tunis_worker.username},
                           headers=coordinator_headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "out_of_scope"


def test_devices_and_field_workers_may_not_create_codes(client, session, worker) -> None:
    device = make_device(session)
    worker_token = make_token(session, worker)  # could only exist by mistake: still refused
    session.commit()  # keep the setup through the error responses' rollbacks (the test's outer transaction stays)
    for headers in (device.headers, auth_headers(worker_token)):
        response = client.post(enrollments_url(), json={"username": worker.username}, headers=headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
    assert client.post(enrollments_url(), json={"username": worker.username}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "username"), ({"username": 42}, "username"), ({"username": "x" * 65}, "username"),
     ({"username": "a", "team": "b"}, "team")],
)
def test_bad_enrollment_requests_are_422(client, coordinator_headers, body, field: str) -> None:
    response = client.post(enrollments_url(), json=body, headers=coordinator_headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


# --- enrolling a device --------------------------------------------------------------------------


def test_a_code_enrolls_one_device_whose_token_is_stored_only_as_a_hash(client, session, coordinator_headers,
                                                                        worker) -> None:
    code = new_code(client, coordinator_headers, worker.username)

    response = enroll(client, code, label="Tripoli MMT tablet 3", app_version="1.4.2")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"device_id", "token", "team_id"}
    assert body["team_id"] == "ly-mmt-tripoli"
    assert body["token"].startswith(DEVICE_TOKEN_PREFIX)
    device = session.get(Device, body["device_id"])
    assert device.token_hash == hash_secret(body["token"])
    assert (device.user_id, device.label, device.app_version, device.status) == (
        worker.id, "Tripoli MMT tablet 3", "1.4.2", "active")
    spent = session.scalars(select(EnrollmentCode).where(EnrollmentCode.user_id == worker.id)).one()
    assert spent.used_at is not None and spent.device_id == device.id
    # The token authenticates as that device: a coordinator route refuses it as a device (403), not as
    # an unknown token (401).
    refused = client.get("/api/v1/teams", headers=auth_headers(body["token"]))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"


def test_a_code_is_forgiving_about_case_spaces_and_confusable_letters(client, coordinator_headers, worker) -> None:
    code = new_code(client, coordinator_headers, worker.username)
    typed = " " + code.lower().replace("0", "o").replace("1", "l").replace("-", " ") + " "
    assert enroll(client, typed).status_code == 201


def test_a_used_code_is_401(client, coordinator_headers, worker) -> None:
    code = new_code(client, coordinator_headers, worker.username)
    assert enroll(client, code).status_code == 201
    again = enroll(client, code)
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "invalid_enrollment_code"


def test_an_expired_code_is_401(client, session, coordinator_headers, worker) -> None:
    code = new_code(client, coordinator_headers, worker.username)
    session.execute(update(EnrollmentCode).where(EnrollmentCode.user_id == worker.id)
                    .values(expires_at=utcnow() - timedelta(seconds=1)))
    response = enroll(client, code)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_enrollment_code"


@pytest.mark.parametrize("code", ["ABCDE-FGHJK", "not a code", "UUUUU-UUUUU", "12345"])
def test_an_unknown_code_is_401(client, code: str) -> None:
    response = enroll(client, code)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_enrollment_code"


def test_a_code_for_a_worker_who_left_the_team_is_401(client, session, coordinator_headers, worker) -> None:
    code = new_code(client, coordinator_headers, worker.username)
    worker.team_id = "ly-dcmt-sabha"
    session.flush()
    assert enroll(client, code).status_code == 401
    assert session.scalar(select(func.count()).select_from(Device).where(Device.user_id == worker.id)) == 0


@pytest.fixture
def slow_enroll_backoff(monkeypatch) -> Backoff:
    # A 60 s first delay: a busy machine's slowness cannot let the next guess through by accident.
    backoff = replace(accounts.ENROLL_ADDRESS, base=timedelta(seconds=60))
    monkeypatch.setattr(accounts, "ENROLL_ADDRESS", backoff)
    return backoff


def test_wrong_codes_are_rate_limited_per_address(client, coordinator_headers, worker, slow_enroll_backoff) -> None:
    code = new_code(client, coordinator_headers, worker.username)
    for _ in range(slow_enroll_backoff.free):
        assert enroll(client, "ABCDE-FGHJK", address="192.0.2.77").status_code == 401

    blocked = enroll(client, code, address="192.0.2.77")

    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert 50 <= int(blocked.headers["Retry-After"]) <= 60
    # The code was not spent by the refused attempt; another address may still use it.
    assert enroll(client, code, address="192.0.2.78").status_code == 201


def test_code_guessing_gets_429_whatever_the_guesser_writes_in_x_forwarded_for(client, worker,
                                                                               slow_enroll_backoff) -> None:
    answers = [enroll(client, f"ABCDE-{index:05d}", address="203.0.113.40",
                      headers={"X-Forwarded-For": f"198.51.100.{index}"}).status_code
               for index in range(slow_enroll_backoff.free + 5)]
    assert answers == [401] * slow_enroll_backoff.free + [429] * 5


def test_behind_a_trusted_proxy_one_guesser_does_not_block_other_tablets(app, client, coordinator_headers, worker,
                                                                        monkeypatch, slow_enroll_backoff) -> None:
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", 1)
    code = new_code(client, coordinator_headers, worker.username)
    for index in range(slow_enroll_backoff.free + 3):
        enroll(client, f"ABCDE-{index:05d}", address="10.0.0.1", headers={"X-Forwarded-For": "203.0.113.41"})
    assert enroll(client, code, address="10.0.0.1", headers={"X-Forwarded-For": "203.0.113.41"}).status_code == 429
    assert enroll(client, code, address="10.0.0.1", headers={"X-Forwarded-For": "198.51.100.42"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"code", "label", "app_version"}),
        ({"code": 1, "label": ["x"], "app_version": {"v": 1}}, {"code", "label", "app_version"}),
        ({"code": "ABCDE-FGHJK", "label": "x" * 101, "app_version": "1"}, {"label"}),
        ({"code": "x" * 1_000_000, "label": "t", "app_version": "1" * 33}, {"code", "app_version"}),
        ({"code": "ABCDE-FGHJK", "label": "t", "app_version": "1", "user_id": 1}, {"user_id"}),
    ],
    ids=["empty", "wrong-types", "long-label", "1MB", "unknown-field"],
)
def test_bad_enroll_requests_are_422(client, body, fields: set[str]) -> None:
    response = client.post(ENROLL_URL, json=body)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == fields


def test_a_10mb_body_is_a_413_envelope(client) -> None:
    response = client.post(ENROLL_URL, json={"code": "x" * 10_000_000, "label": "t", "app_version": "1"})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


# --- one code, two tablets at once ---------------------------------------------------------------


def test_one_code_enrolls_exactly_one_of_two_racing_tablets(committed_app: Flask) -> None:
    with committed_app.app_context():
        worker = make_user(db.session, role="field_worker", team_id="ly-mmt-tripoli")
        coordinator = make_user(db.session, role="coordinator")
        principal = Principal(kind="user", role="coordinator", user_id=coordinator.id, countries=frozenset({"LY"}))
        code = create_enrollment_code(db.session, principal, team_id="ly-mmt-tripoli", username=worker.username,
                                      now=utcnow()).code
        worker_id = worker.id
        db.session.commit()
        db.session.remove()

    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def attempt(index: int) -> None:
        client = committed_app.test_client()
        barrier.wait()
        statuses.append(enroll(client, code, address=f"192.0.2.{index}", label=f"tablet {index}").status_code)

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [201, 401]
    with committed_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device).where(Device.user_id == worker_id)) == 1
        db.session.remove()


def test_implausible_team_ids_are_404_not_500(client, session, coordinator_headers) -> None:
    session.commit()  # keep the coordinator's token through the first 404's rollback
    for team_id in ("a%00b", "t" * 1000):
        response = client.post(enrollments_url(team_id), json={"username": "someone"}, headers=coordinator_headers)
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (ENROLL_URL, {"code": "ABCDE-FGHJK", "label": "tab\x00let", "app_version": "1"}, "label"),
        (ENROLL_URL, {"code": "ABCDE\x00FGHJK", "label": "t", "app_version": "1"}, "code"),
        ("/api/v1/auth/token", {"username": "a\x00b", "password": "whatever"}, "username"),
    ],
)
def test_control_characters_are_422_not_a_database_error(client, url: str, body: dict, field: str) -> None:
    response = client.post(url, json=body)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [field]


def test_a_nul_in_the_enrollment_username_is_422(client, coordinator_headers) -> None:
    response = client.post(enrollments_url(), json={"username": "a\x00b"}, headers=coordinator_headers)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["username"]
