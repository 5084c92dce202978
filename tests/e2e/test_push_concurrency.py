"""Concurrent pushes through a real gunicorn with several workers, on PostgreSQL and SQLite.

Several tablets push at once, each batch sent twice at the same moment (a retry racing the
original), while tablets of one team correct the same records concurrently. Afterwards: no record
lost or doubled, every correction applied exactly once, both copies of a batch answered alike, and
a reader polling throughout never saw a seq appear below one it had already seen among those a pull
may serve (on PostgreSQL, below the commit horizon: server/persistence/seq.py), which is what pull cursors rely on.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select

from server.models import AppliedOp, Record, RecordRevision, SyncBatch
from server.persistence.seq import settled
from tests.e2e.conftest import Site, Tablet, enrol_tablets
from tests.factories import consultation_data, correct_mutation, create_mutation, gzip_bomb, push_body

# Eight writers and a reader (the SeqWatcher), each on its own connections.
TEAMS = ["ly-mmt-tripoli"] * 3 + ["ly-mmt-benghazi"] * 5
SITES = {"ly-mmt-tripoli": "ly-mp-tripoli", "ly-mmt-benghazi": "ly-mp-benghazi"}
BATCHES_PER_TABLET = 3
CREATES_PER_BATCH = 25
# Fields the three Tripoli tablets correct on the same shared records, one field each: disjoint,
# so every stale correction merges and each record ends at version 1 + 3.
CORRECTIONS = [{"visit": "follow_up"}, {"referral": True}, {"service": "mhpss"}]
SHARED_RECORDS = 10


def send(base_url: str, tablet: Tablet, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Push until answered 200 (409: the twin is in flight; 503: busy); returns (body, replayed)."""
    headers = {**tablet.headers, "Idempotency-Key": body["batch_id"]}
    with requests.Session() as http:
        for _ in range(200):
            response = http.post(base_url + "/api/v1/sync/push", json=body, headers=headers, timeout=60)
            if response.status_code in (409, 503):
                time.sleep(0.05)
                continue
            assert response.status_code == 200, response.text
            return response.json(), response.headers.get("Idempotent-Replayed") == "true"
    raise AssertionError("batch never completed")


class SeqWatcher(threading.Thread):
    """Polls the visible seqs; a seq first seen below an earlier snapshot's maximum is a violation."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(database_url)
        self.stop = threading.Event()
        self.violations: list[tuple[int, int]] = []
        self.snapshots = 0

    def run(self) -> None:
        seen: set[int] = set()
        high = 0
        while not self.stop.is_set():
            with self.engine.connect() as connection:
                # What a pull may serve: on PostgreSQL the seqs below the commit horizon (server/persistence/seq.py).
                statement = select(Record.seq)
                condition = settled(connection, Record.seq)
                if condition is not None:
                    statement = statement.where(condition)
                visible = set(connection.execute(statement).scalars())
            new = visible - seen
            self.violations += [(seq, high) for seq in new if seq < high]
            seen |= visible
            high = max(seen, default=0)
            self.snapshots += 1

    def finish(self) -> None:
        self.stop.set()
        self.join()
        self.engine.dispose()


def test_concurrent_pushes_lose_and_double_nothing(site: Site) -> None:
    url = site.server.url
    tablets = enrol_tablets(site.database_url, TEAMS)
    tripoli = [t for t in tablets if t.team_id == "ly-mmt-tripoli"]

    shared = [create_mutation() for _ in range(SHARED_RECORDS)]
    setup, _ = send(url, tripoli[0], push_body(shared))
    assert {r["status"] for r in setup["results"]} == {"applied"}

    batches: list[tuple[Tablet, dict[str, Any]]] = []
    for tablet in tablets:
        site_id = SITES[tablet.team_id]
        for _ in range(BATCHES_PER_TABLET):
            creates = [create_mutation(data=consultation_data(team_id=tablet.team_id, site_id=site_id))
                       for _ in range(CREATES_PER_BATCH)]
            batches.append((tablet, push_body(creates)))
    for tablet, fields in zip(tripoli, CORRECTIONS, strict=True):
        batches.append((tablet, push_body([correct_mutation(m["id"], 1, fields) for m in shared])))

    watcher = SeqWatcher(site.database_url)
    watcher.start()
    try:
        # Every batch twice, both copies in flight together.
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [(index, pool.submit(send, url, tablet, body))
                       for index, (tablet, body) in enumerate(batches) for _ in range(2)]
            answers: dict[int, list[tuple[dict[str, Any], bool]]] = {}
            for index, future in futures:
                answers.setdefault(index, []).append(future.result())
    finally:
        watcher.finish()

    for index, ((first, first_replayed), (second, second_replayed)) in answers.items():
        assert first == second, f"batch {index} answered differently"
        assert sorted([first_replayed, second_replayed]) == [False, True], "exactly one copy applied the batch"
        statuses = {r["status"] for r in first["results"]}
        assert statuses == {"applied"}, statuses
        seqs = [r["seq"] for r in first["results"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    assert watcher.snapshots > 3
    assert watcher.violations == [], "a seq became visible after a higher one"

    engine = create_engine(site.database_url)
    try:
        with engine.connect() as connection:
            created = [m["id"] for _, body in batches for m in body["mutations"] if m["kind"] == "create"]
            created += [m["id"] for m in shared]
            stored = connection.execute(select(Record.id, Record.version, Record.data, Record.seq)).all()
            by_id = {row.id: row for row in stored}
            assert len(stored) == len(created) == len(set(created)), "a record was lost or doubled"
            assert set(by_id) == set(created)
            assert len({row.seq for row in stored}) == len(stored)
            for mutation in shared:
                row = by_id[mutation["id"]]
                assert row.version == 1 + len(CORRECTIONS)
                assert (row.data["visit"], row.data["referral"], row.data["service"]) == ("follow_up", True, "mhpss")
            ops = sum(len(body["mutations"]) for _, body in batches) + len(shared)
            assert connection.scalar(select(func.count()).select_from(AppliedOp)) == ops
            revisions = len(created) + SHARED_RECORDS * len(CORRECTIONS)
            assert connection.scalar(select(func.count()).select_from(RecordRevision)) == revisions
            assert connection.scalar(select(func.count()).select_from(SyncBatch)) == len(batches) + 1
    finally:
        engine.dispose()


def test_a_gzip_bomb_gets_413_from_the_real_server_without_growing_a_worker(site: Site) -> None:
    (tablet,) = enrol_tablets(site.database_url, ["ly-mmt-tripoli"])
    bomb = gzip_bomb()
    headers = {**tablet.headers, "Idempotency-Key": "x", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}

    response = requests.post(site.server.url + "/api/v1/sync/push", data=bomb, headers=headers, timeout=60)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    for pid in site.server.worker_pids():
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        status = dict(line.split(":", 1) for line in lines if ":" in line)
        peak_kb = int(status["VmHWM"].split()[0])
        assert peak_kb < 300 * 1024, f"worker {pid} peaked at {peak_kb} kB"
