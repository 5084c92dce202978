"""DATABASE_READ_URL: aggregates read a real streaming replica; sync never does.

A primary and a hot standby made with `pg_basebackup -R` (tests/pg_cluster.py). Replaying WAL on the
standby is paused to make replication lag visible: the coordinator's figure lags, the tablet's pull
does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

import config as fieldsync_config
from server.extensions import db
from tests.conftest import build_app, seeded_app
from tests.factories import EnrolledDevice, create_mutation, make_device, make_token, make_user, push_body, push_headers
from tests.pg_cluster import Cluster, find_pg_bin, start_cluster, start_replica

PUSH, PULL, AGGREGATES = "/api/v1/sync/push", "/api/v1/sync/pull", "/api/v1/aggregates"
TOTAL = AGGREGATES + "?indicator=health_consultations&country=LY"


@dataclass
class Replicated:
    app: Flask
    primary: Cluster
    replica: Cluster
    device: EnrolledDevice
    coordinator: dict[str, str]

    def caught_up(self, timeout: float = 30.0) -> None:
        # The insert position, not pg_current_wal_lsn(): the throwaway primary runs with
        # synchronous_commit=off, so a commit that has returned may not be written out yet.
        target = self.primary.query("SELECT pg_current_wal_insert_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replica.query(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t":
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not catch up")


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    try:
        find_pg_bin()
    except RuntimeError as error:  # make test installs PostgreSQL; a bare pytest run may lack it
        pytest.skip(str(error))
    primary = start_cluster()
    replica = None
    try:
        url = primary.create_database("fieldsync_replicated")
        seeded = seeded_app(url)
        with seeded.app_context():
            enrolled = make_device(db.session)
            token = make_token(db.session, make_user(db.session, role="coordinator"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        replica = start_replica(primary)
        read_url = fieldsync_config.normalise_database_url(replica.url("fieldsync_replicated"))
        app = build_app(url, SQLALCHEMY_BINDS={"read": {"url": read_url, **fieldsync_config.engine_options(read_url)}})
        yield Replicated(app, primary, replica, enrolled, {"Authorization": f"Bearer {token}"})
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


def _push_one(replicated: Replicated) -> str:
    mutation = create_mutation()
    body = push_body([mutation])
    client = replicated.app.test_client()
    answer = client.post(PUSH, json=body, headers=push_headers(replicated.device, body))
    assert answer.status_code == 200 and answer.json["results"][0]["status"] == "applied", answer.json
    return mutation["id"]


def _total(replicated: Replicated) -> int:
    answer = replicated.app.test_client().get(TOTAL, headers=replicated.coordinator)
    assert answer.status_code == 200, answer.json
    return answer.json["total"]


def _pulled_ids(replicated: Replicated) -> set[str]:
    answer = replicated.app.test_client().get(PULL, query_string={"stream": "records", "cursor": "", "limit": 1000},
                                              headers=replicated.device.headers)
    assert answer.status_code == 200, answer.json
    return {change["id"] for change in answer.json["changes"]}


def test_aggregates_read_the_replica_and_may_lag_while_pull_reads_the_primary(replicated: Replicated) -> None:
    first = _push_one(replicated)
    replicated.caught_up()
    assert _total(replicated) == 1

    replicated.replica.query("SELECT pg_wal_replay_pause()")
    try:
        second = _push_one(replicated)
        assert _pulled_ids(replicated) == {first, second}  # the tablet reads its own write at once
        assert _total(replicated) == 1  # the coordinator's figure lags with the paused replica
        # The public page reads the replica too; the moment it was first published is written on the primary.
        page = replicated.app.test_client().get("/public/v1/countries/LY/impact?year=2016")
        assert page.status_code == 200, page.json
    finally:
        replicated.replica.query("SELECT pg_wal_replay_resume()")
    replicated.caught_up()
    assert _total(replicated) == 2
