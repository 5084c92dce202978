"""Records per second for push batches of 200 consultations through the real gunicorn server.

    .venv/bin/python -m bench.push_rate [--batches 20] [--clients 1,4] [--workers 4] [--engines sqlite,postgresql]

Each engine gets a fresh, migrated and seeded database (PostgreSQL: a throwaway cluster unless
BENCH_DATABASE_URL names an empty database) and a `gunicorn --config gunicorn.conf.py` server.
`clients` tablets push concurrently, each its own batches; the rate counts applied records over
wall-clock time, from the first request to the last response. Not a test: numbers for the notes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import Tablet, enrol_tablets
from tests.e2e.live_server import live_server, prepare_database
from tests.factories import create_mutation, push_body
from tests.pg_cluster import start_cluster

BATCH_SIZE = 200


def _push_all(url: str, tablet: Tablet, batches: int) -> int:
    applied = 0
    with requests.Session() as http:
        for _ in range(batches):
            body = push_body([create_mutation() for _ in range(BATCH_SIZE)])
            headers = {**tablet.headers, "Idempotency-Key": body["batch_id"]}
            response = http.post(url + "/api/v1/sync/push", json=body, headers=headers, timeout=120)
            response.raise_for_status()
            applied += sum(r["status"] == "applied" for r in response.json()["results"])
    return applied


def run(database_url: str, *, label: str, clients: list[int], batches: int, workers: int) -> None:
    prepare_database(database_url)
    with live_server(database_url, workers=workers) as server:
        for count in clients:
            tablets = enrol_tablets(database_url, ["ly-mmt-tripoli"] * count)
            _push_all(server.url, tablets[0], 1)  # warm-up: workers' first request, caches
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=count) as pool:
                applied = sum(pool.map(lambda t: _push_all(server.url, t, batches), tablets))
            elapsed = time.perf_counter() - started
            print(f"{label:10s} workers={workers} clients={count} batches={count * batches}x{BATCH_SIZE}: "
                  f"{applied} records in {elapsed:.1f}s = {applied / elapsed:,.0f} records/s "
                  f"({elapsed / (count * batches) * 1000:.0f} ms per batch)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="batches per client")
    parser.add_argument("--clients", default="1,4", help="comma-separated concurrent client counts")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    for engine in args.engines.split(","):
        if engine == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='fieldsync-bench-')}/bench.db"
            run(url, label="sqlite", clients=clients, batches=args.batches, workers=args.workers)
        elif os.environ.get("BENCH_DATABASE_URL"):
            run(os.environ["BENCH_DATABASE_URL"], label="postgresql", clients=clients, batches=args.batches,
                workers=args.workers)
        else:
            # Durable (fsync on), unlike the test clusters: the figure should mean something.
            cluster = start_cluster(durable=True)
            try:
                run(cluster.create_database("fieldsync_bench"), label="postgresql", clients=clients,
                    batches=args.batches, workers=args.workers)
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
