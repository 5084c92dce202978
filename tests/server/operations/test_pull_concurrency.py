"""A cursor never skips a change, with real concurrent transactions on a fresh database.

The risk: a writer takes seq N, a second writer takes N+1 and commits first, a reader pulls N+1 and
gets cursor N+1; when N finally commits it is behind every cursor and never delivered. server/persistence/seq.py
prevents it: on SQLite one writer at a time numbers changes in commit order; on PostgreSQL writers
never wait for each other and a pull serves only seqs below its snapshot's horizon (the seqs of
transactions that had all finished). These tests fail without either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server.extensions import db
from tests.conftest import seeded_app
from tests.factories import make_device, make_record


@dataclass
class Fresh:
    app: Flask
    engine: Engine
    headers: dict[str, str]


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh(request: pytest.FixtureRequest, make_database_url) -> Iterator[Fresh]:  # type: ignore[no-untyped-def]
    """A migrated, seeded database of its own: these tests need real commits on several connections."""
    app = seeded_app(make_database_url(request.param))
    with app.app_context():
        device = make_device(db.session)
        db.session.commit()
        headers = device.headers
        engine = db.engine  # carries the SQLite BEGIN IMMEDIATE hooks, like the app's own sessions
        yield Fresh(app, engine, headers)
        db.session.remove()
        engine.dispose()


def pull(client: FlaskClient, headers: dict[str, str], cursor: str | None, limit: int = 500) -> dict[str, Any]:
    query = {"stream": "records", "limit": limit, **({"cursor": cursor} if cursor else {})}
    response = client.get("/api/v1/sync/pull", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def waiting_on_a_lock(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )).scalar_one())


def test_a_slow_writer_is_never_skipped(fresh: Fresh) -> None:
    client = fresh.app.test_client()
    cursor = pull(client, fresh.headers, None)["next_cursor"]

    seq_taken, release = threading.Event(), threading.Event()
    ids: dict[str, str] = {}
    failures: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with Session(fresh.engine) as session:
                ids["slow"] = make_record(session).id  # takes seq N: the counter row stays locked
                seq_taken.set()
                release.wait(30)  # "sleeps": a long push batch
                session.commit()
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)
            seq_taken.set()

    def fast_writer() -> None:
        try:
            with Session(fresh.engine) as session:
                ids["fast"] = make_record(session).id  # wants seq N+1
                session.commit()
        except BaseException as exc:
            failures.append(exc)

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert seq_taken.wait(30) and not failures
    fast = threading.Thread(target=fast_writer)
    fast.start()

    if fresh.engine.dialect.name == "postgresql":
        # No lock shared by writers: the fast writer commits N+1 while N is still open (issue 31).
        fast.join(10)
        fast_was_queued = fast.is_alive()
        assert not fast_was_queued, "the second writer waited for the first"
        assert waiting_on_a_lock(fresh.engine) == 0
        # The reader pulls while N is uncommitted and N+1 committed: N+1 is above the horizon (a
        # transaction with a lower id is still running), so the cursor stays below N.
        during = pull(client, fresh.headers, cursor)
        release.set()
    else:
        # SQLite: one writer at a time, so the fast writer waits for the write lock (BEGIN IMMEDIATE)
        # and cannot take N+1 before N commits; the reader takes no lock (a pull only reads, from a
        # snapshot) and is served meanwhile.
        time.sleep(0.3)
        fast_was_queued = fast.is_alive()
        during = pull(client, fresh.headers, cursor)
        release.set()
    slow.join(30)
    fast.join(30)
    assert not failures, failures

    assert during["changes"] == [], "a change was served before it was committed"
    received = [c["id"] for c in during["changes"]]
    later = pull(client, fresh.headers, during["next_cursor"])
    received += [c["id"] for c in later["changes"]]
    assert ids["slow"] in received, "the slow writer's change was skipped"
    assert sorted(received) == sorted(ids.values()) and len(received) == 2
    if fresh.engine.dialect.name == "sqlite":
        assert fast_was_queued, "the second writer committed while the first held an earlier seq"


def test_paging_during_concurrent_pushes_returns_every_record_exactly_once(fresh: Fresh) -> None:
    writers, per_writer = 4, 40
    written: list[str] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for n in range(per_writer):
                with Session(fresh.engine) as session:
                    # Batches of 1-3 records per transaction, as pushes are.
                    batch = [make_record(session).id for _ in range(1 + (n + index) % 3)]
                    time.sleep(0.001 * ((n * 7 + index) % 5))
                    session.commit()
                with lock:
                    written.extend(batch)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    client = fresh.app.test_client()
    received: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        writing = any(thread.is_alive() for thread in threads)
        page = pull(client, fresh.headers, cursor, limit=7)
        received += page["changes"]
        cursor = page["next_cursor"]
        if not writing and not page["has_more"]:
            break
    for thread in threads:
        thread.join()
    assert not failures, failures

    ids = [c["id"] for c in received]
    assert len(ids) == len(set(ids)), "a change was delivered twice"
    assert set(ids) == set(written), "a change was skipped"
    seqs = [c["seq"] for c in received]
    assert seqs == sorted(seqs)
