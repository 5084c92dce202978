"""Property-based fuzzing of every operation in `/api/openapi.json` against a real gunicorn.

schemathesis reads the server's own OpenAPI document and generates requests for each operation,
valid ones (positive) and ones that break the schema (negative: wrong types, missing fields,
out-of-range numbers, odd strings), authenticated with real tokens: a device's for the sync
routes, a coordinator's (obtained with a password through `POST /auth/token`) for the rest.
Bounded: a few examples per operation and mode, and a wall-clock budget per engine.

Asserted: no answer is a 5xx; the records pushed before the fuzzing are unchanged afterwards; the
server logged no traceback and neither the password nor any token.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from server.extensions import db
from server.models import Record
from tests.e2e.conftest import Site, enrol_tablets
from tests.e2e.device_sim import DeviceSim, secrets_in_log
from tests.e2e.live_server import direct_app
from tests.factories import auth_headers, make_device, make_token, make_user
from tests.hostile import (
    WRONG_TYPES,
    body_operations,
    envelope_problems,
    mutation,
    policy_texts,
    push_envelope,
    replaced,
    valid_body,
)

PASSWORD = "fuzzing coordinator passphrase"
EXAMPLES_PER_OPERATION = 6
BUDGET_SECONDS = 15.0
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
# Raised by the client before anything is sent (a generated header value it cannot encode).
NOT_SENT = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError, ValueError)


def snapshot(database_url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                select(Record.id, Record.version, Record.status, Record.data, Record.seq).order_by(Record.id))]
    finally:
        engine.dispose()


def coordinator_token(site: Site) -> tuple[str, str]:
    app = direct_app(site.database_url)
    with app.app_context():
        user = make_user(db.session, password=PASSWORD)
        username = user.username
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    response = requests.post(site.server.url + "/api/v1/auth/token",
                             json={"username": username, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return username, response.json()["token"]


def test_fuzzing_every_operation_finds_no_5xx_and_changes_nothing(site: Site) -> None:
    (tablet,) = enrol_tablets(site.database_url, ["ly-mmt-tripoli"])
    username, token = coordinator_token(site)
    device = DeviceSim(site.server.url, tablet.token, tablet.team_id, "ly-mp-tripoli", seed=7)
    for _ in range(20):
        device.create()
    device.sync()
    for record_id in device.active_records()[:5]:
        device.correct(record_id)
    device.void(device.active_records()[-1])
    device.sync()
    device.close()
    before = snapshot(site.database_url)

    schema = schemathesis.openapi.from_url(site.server.url + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()

    def fuzz(operation: Any) -> None:
        auth = tablet.token if operation.path.startswith("/api/v1/sync/") else token
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in MODES))

        @settings(max_examples=EXAMPLES_PER_OPERATION * len(MODES), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=strategy)
        def exercise(case: Any) -> None:
            if time.monotonic() - started > BUDGET_SECONDS:
                return
            try:
                response = case.call(base_url=site.server.url, headers={"Authorization": f"Bearer {auth}"},
                                     timeout=30)
            except NOT_SENT:
                outcomes["not_sent"] += 1
                return
            outcomes[f"{response.status_code // 100}xx"] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code} "
                                f"{response.text[:200]}")

        exercise()

    for operation in operations:
        fuzz(operation)
    elapsed = time.monotonic() - started
    print(f"\n[fuzz {site.engine}] operations={len(operations)} requests={sum(outcomes.values())} "
          f"outcomes={dict(outcomes)} in {elapsed:.1f}s")
    assert failures == []
    assert sum(outcomes.values()) >= 50
    assert snapshot(site.database_url) == before, "fuzzing changed records pushed before"
    log = site.server.log_path.read_text(errors="replace")
    assert "Traceback" not in log
    assert secrets_in_log(site.server.log_path, {"password": PASSWORD, "user token": token,
                                                 "device token": tablet.token}) == []
    assert username  # the user exists; usernames may appear in logs, secrets may not


# --- the generated classes of tests/hostile.py, against the same live gunicorn -------------------
# schemathesis 4 can map generated bodies (a `map_body` hook), but only as Python values: it cannot
# write a duplicate key, a raw `1e400` or NaN text. So the classes are sent here, as bytes, to every
# JSON operation of the live server's OpenAPI document (the same generators as the in-process test).

POLICY_EXAMPLES_PER_OPERATION = 18


def test_generated_hostile_bodies_against_live_gunicorn(site: Site) -> None:
    tablet, = enrol_tablets(site.database_url, ["ly-mmt-tripoli"])
    app = direct_app(site.database_url)
    with app.app_context():
        revoked = make_device(db.session, revoked=True)
        admin = auth_headers(make_token(db.session, make_user(db.session, role="admin", countries=())))
        coordinator = auth_headers(make_token(db.session, make_user(db.session)))
        revoked_headers = revoked.headers
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    http = requests.Session()
    url = site.server.url
    created = mutation()
    for batch in ([created], [{**mutation(), "kind": "undo"}]):
        body = push_envelope(batch)
        assert http.post(url + "/api/v1/sync/push", json=body, timeout=30,
                         headers={**tablet.headers, "Idempotency-Key": body["batch_id"]}).status_code == 200
    spec = http.get(url + "/api/openapi.json", timeout=30).json()
    operations = body_operations(spec)
    assert len(operations) >= 7
    known = {
        "POST /api/v1/sync/push": push_envelope([mutation()]),
        "POST /api/v1/auth/token": {"username": "nobody-here", "password": "not the password"},
        "POST /api/v1/teams/{team_id}/enrollments": {"username": "someone-new"},
        "POST /api/v1/devices/enroll": {"code": "ABCDE-FGHJK", "label": "tablet", "app_version": "1.4.0"},
        "POST /api/v1/conflicts/{conflict_id}/resolve": {"use": "server"},
        "POST /api/v1/quarantine/{quarantine_id}/discard": {"reason": "entered twice"},
        "POST /api/v1/quarantine/{quarantine_id}/apply": {"mutation": mutation()},
    }
    outcomes: Counter[str] = Counter()
    failures: list[str] = []

    def send(operation: Any, text: str, category: str, *, as_revoked: bool = False) -> requests.Response:
        path = (operation.path.replace("{team_id}", "ly-mmt-tripoli").replace("{conflict_id}", "1")
                .replace("{quarantine_id}", "1").replace("{device_id}", tablet.device_id))
        if operation.path.startswith("/api/v1/sync/"):
            key = "k"
            with contextlib.suppress(ValueError, AttributeError):
                batch_id = json.loads(text).get("batch_id")
                key = batch_id if isinstance(batch_id, str) and batch_id.isascii() else key
            headers = {**(revoked_headers if as_revoked else tablet.headers), "Idempotency-Key": key}
        else:
            headers = coordinator if "{team_id}" in operation.path else admin
        response = http.request(operation.method, url + path, data=text.encode("utf-8"), timeout=30,
                                headers={**headers, "Content-Type": "application/json"})
        outcomes["requests"] += 1
        outcomes[category] += 1
        outcomes[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures.append(f"{category} {operation.path}: {response.status_code} <- {text[:200]}")
        elif response.status_code >= 400:
            failures.extend(envelope_problems(response.status_code, response.json()))
        return response

    def run_policy(operation: Any, base: Any) -> None:
        @settings(max_examples=POLICY_EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def policy(data: st.DataObject) -> None:
            category, text = data.draw(policy_texts(base))
            response = send(operation, text, category)
            if response.status_code != 400:
                failures.append(f"{category} {operation.path}: {response.status_code} <- {text[:200]}")
            if operation.path == "/api/v1/sync/push":
                answer = send(operation, text, category + "_revoked", as_revoked=True)
                if answer.status_code != 403 or answer.json().get("wipe") is not True:
                    failures.append(f"revoked {category}: {answer.status_code}")

        policy()

    for operation in operations:
        base = valid_body(spec, operation, known)
        # Wrong JSON types in every top-level field, and in every field of a push's mutation.
        paths = [(name,) for name in sorted(set(base) | set(operation.properties))] if isinstance(base, dict) else []
        if operation.path == "/api/v1/sync/push":
            paths += [("mutations", 0, name) for name in base["mutations"][0]]
        for path in paths:
            for value in WRONG_TYPES:
                body = replaced(base, path, value)
                if operation.path == "/api/v1/sync/push" and path != ("batch_id",):
                    body["batch_id"] = str(uuid.uuid4())  # judged afresh, not replayed
                response = send(operation, json.dumps(body), "wrong_type")
                if response.status_code == 200 and operation.path == "/api/v1/sync/push":
                    for result in response.json()["results"]:  # none when `mutations` itself was []
                        outcomes["push_items_" + result["status"]] += 1

        run_policy(operation, base)
    http.close()
    categories = sorted(k for k in outcomes if k != "requests" and not k[0].isdigit())
    assert outcomes["push_items_rejected"] > 0, "no wrong-typed mutation reached the sync engine"
    print(f"\n[hostile e2e {site.engine}] operations={len(operations)} requests={outcomes['requests']} "
          f"5xx={outcomes['5xx']} statuses={ {k: v for k, v in outcomes.items() if k[0].isdigit()} } "
          f"categories={ {k: outcomes[k] for k in categories} }")
    assert failures == []
    assert outcomes["5xx"] == 0 and outcomes["requests"] >= 300
    assert "Traceback" not in site.server.log_path.read_text(errors="replace")
