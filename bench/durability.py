"""What acknowledged-means-durable costs on SQLite (issue 29 item 8): pushes with the app's
`synchronous=FULL` (every commit syncs the WAL before the answer) against `synchronous=NORMAL` (what
ran before: synced at checkpoints only, so a power cut could lose answered commits), in one run, on
one fresh database each, same server settings.

Two shapes: one record per push (a tablet syncing as it goes, or one ODK Collect submission per request:
one commit per record, where a sync per commit weighs most) and batches of 500 (a backlog).
PostgreSQL is not measured here: it flushes every commit in both cases (fsync, synchronous_commit on).
"""

from __future__ import annotations

import time

import requests
from flask import Flask

from bench.common import Engine, Results, consultations, device_for, team_sites
from tests.e2e.live_server import live_server, prepare_database
from tests.factories import push_body

TEAM = "ly-mmt-tripoli"
SETTINGS = {"FULL (now)": "server:create_app()", "NORMAL (before)": "bench.durability:normal_app()"}


def normal_app() -> Flask:
    """The app as it was before issue 29: WAL with synchronous=NORMAL."""
    from server import create_app, extensions

    extensions.SQLITE_SYNCHRONOUS = "NORMAL"
    return create_app()


def _push(http: requests.Session, url: str, headers: dict[str, str], mutations: list[dict]) -> None:
    body = push_body(mutations)
    answer = http.post(url + "/api/v1/sync/push", json=body, timeout=300,
                       headers={**headers, "Idempotency-Key": str(body["batch_id"])})
    if answer.status_code != 200:
        raise RuntimeError(f"push answered {answer.status_code}: {answer.text[:300]}")


def _measure(eng: Engine, app: str, singles: int, batches: int, workers: int) -> tuple[float, float]:
    url = eng.new_database("durability")
    prepare_database(url)
    creds = device_for(url, TEAM)
    records = consultations(singles + batches * 500, TEAM, team_sites(url, TEAM))
    with live_server(url, workers=workers, app=app) as server, requests.Session() as http:
        started = time.perf_counter()
        for mutation in records[:singles]:
            _push(http, server.url, creds.headers, [mutation])
        single_rate = singles / (time.perf_counter() - started)
        rest = records[singles:]
        started = time.perf_counter()
        for index in range(batches):
            _push(http, server.url, creds.headers, rest[index * 500:(index + 1) * 500])
        batch_rate = batches * 500 / (time.perf_counter() - started)
    return single_rate, batch_rate


def run(eng: Engine, results: Results, *, singles: int = 200, batches: int = 8, workers: int = 2,
        rounds: int = 2) -> None:
    """Alternating rounds (FULL, NORMAL, FULL, NORMAL...), the best of each kept: on a shared machine
    the other load drifts, and alternating spreads the drift over both settings."""
    if eng.name != "sqlite":
        return
    best: dict[str, tuple[float, float]] = {label: (0.0, 0.0) for label in SETTINGS}
    for _ in range(rounds):
        for label, app in SETTINGS.items():
            single, batch = _measure(eng, app, singles, batches, workers)
            best[label] = (max(best[label][0], single), max(best[label][1], batch))
    (full_single, full_batch), (normal_single, normal_batch) = best["FULL (now)"], best["NORMAL (before)"]
    note = f"best of {rounds} alternating rounds"
    results.add(eng.name, "durability: 1-record pushes/s, synchronous FULL vs NORMAL",
                f"{full_single:.0f} vs {normal_single:.0f} /s",
                f"FULL/NORMAL {full_single / normal_single:.2f}; {note}")
    results.add(eng.name, "durability: records/s in 500-record batches, FULL vs NORMAL",
                f"{full_batch:.0f} vs {normal_batch:.0f} /s", f"FULL/NORMAL {full_batch / normal_batch:.2f}; {note}")
