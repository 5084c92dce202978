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

import time
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
from tests.factories import make_user

PASSWORD = "fuzzing coordinator passphrase"
EXAMPLES_PER_OPERATION = 6
BUDGET_SECONDS = 25.0
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
