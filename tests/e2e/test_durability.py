"""Acknowledged means durable on SQLite (issue 29 item 8): every connection the live server opens, in
every worker, runs WAL with synchronous=FULL, so a commit is on disk before the tablet hears 200/201.

(PostgreSQL flushes every commit by its own configuration, fsync and synchronous_commit on; the test
clusters turn both off for speed, so there is nothing of the app's to check there.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.e2e.conftest import enrol_tablets
from tests.e2e.live_server import live_server, prepare_database
from tests.factories import consultation_data, create_mutation, push_body

FULL = "2"  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_every_connection_of_the_live_server_syncs_each_commit(make_database_url, tmp_path: Path) -> None:
    url = make_database_url("sqlite")
    prepare_database(url)
    tablets = enrol_tablets(url, ["ly-mmt-tripoli"] * 4)
    pragmas = tmp_path / "pragmas.log"
    with live_server(url, workers=2, threads=4, app="tests.e2e.durability_probe:create_app()",
                     env={"FIELDSYNC_PRAGMA_LOG": str(pragmas)}) as server:
        def sync(tablet_index: int) -> None:
            tablet = tablets[tablet_index % len(tablets)]
            body = push_body([create_mutation(data=consultation_data())])
            answer = requests.post(server.url + "/api/v1/sync/push", json=body, timeout=60,
                                   headers={**tablet.headers, "Idempotency-Key": body["batch_id"]})
            assert answer.status_code == 200, answer.text
            requests.get(server.url + "/api/v1/sync/pull", params={"stream": "records"}, headers=tablet.headers,
                         timeout=60)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(sync, range(32)))
        workers = set(map(str, server.worker_pids()))
    lines = [line.split() for line in pragmas.read_text().splitlines()]
    assert lines, "the app opened no connection"
    assert {pid for pid, _, _ in lines} & workers, "the workers' own connections are recorded"
    assert {(synchronous, journal) for _, synchronous, journal in lines} == {(FULL, "wal")}
