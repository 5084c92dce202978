"""Latency and requests/s of the public impact JSON through the real gunicorn server.

    .venv/bin/python -m bench.public_latency --engines sqlite,postgresql --records 1000000 \\
        [--sqlite-path /tmp/fs-bench/public.db] [--database-url postgresql://...] [--skip-build]

For each engine: a migrated, seeded database is filled with `--records` synthetic records over
2016-2018 by `tests/bulk_records.py` (the push engine's rollup code, committed in chunks small enough
for PostgreSQL's lock table), then `gunicorn --config gunicorn.conf.py` serves it and we time
`GET /public/v1/countries/LY/impact?year=2016` (and `&by=area`):

- latency: `--requests` sequential requests, median and p95, without and with `If-None-Match`
  (the current ETag, so every answer is a 304);
- throughput: `--clients` concurrent keep-alive clients for the same number of requests each;
- and, in process, what computing a page costs when the per-process cache is empty.

`--skip-build` reuses a database built earlier (PostgreSQL: give its URL). Not a test: numbers
for the notes. The client runs on the same machine as the server, so on a small machine it
competes with the workers for CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import requests

from config import normalise_database_url
from server.extensions import db
from tests.e2e.live_server import direct_app, live_server, prepare_database

# Records per committed transaction. The rollup code takes one advisory lock per person on
# PostgreSQL, and a transaction may hold only ~max_locks_per_transaction x max_connections of them.
CHUNK = {"sqlite": 50_000, "postgresql": 5_000}
PATHS = {"total": "/public/v1/countries/LY/impact?year=2016",
         "by=area": "/public/v1/countries/LY/impact?year=2016&by=area"}


def build(database_url: str, records: int) -> None:
    from tests.bulk_records import load_records, synthetic_states

    prepare_database(database_url)
    chunk = CHUNK["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    app = direct_app(database_url)
    started = time.perf_counter()
    with app.app_context():
        states = synthetic_states(db.session, records)
        loaded = 0
        while True:
            count = load_records(db.session, islice(states, chunk))
            db.session.commit()
            loaded += count
            if count < chunk:
                break
            if loaded % 50_000 == 0:
                print(f"  {loaded:,} records, {time.perf_counter() - started:.0f} s", flush=True)
        db.session.remove()
        db.engine.dispose()
    print(f"built {loaded:,} records in {time.perf_counter() - started:.0f} s", flush=True)


def cold(database_url: str, repeat: int = 5) -> None:
    """What one page costs to compute, cache emptied before each (in process, no HTTP)."""
    from server.operations import public

    app = direct_app(database_url)
    with app.app_context():
        for by in (None, "area"):
            times = []
            for _ in range(repeat):
                public.CACHE.clear()
                started = time.perf_counter()
                public.build_impact(db.session, "LY", 2016, by)
                times.append(time.perf_counter() - started)
                db.session.rollback()
            print(f"  computing the page (by={by}), no cache: median {statistics.median(times) * 1000:.1f} ms",
                  flush=True)
        db.session.remove()
        db.engine.dispose()


def _timed(http: requests.Session, url: str, headers: dict[str, str], expect: int) -> float:
    started = time.perf_counter()
    response = http.get(url, headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    if response.status_code != expect:
        raise RuntimeError(f"{url}: {response.status_code} (expected {expect}): {response.text[:200]}")
    return elapsed


def measure(base: str, path: str, requests_count: int, clients: int) -> None:
    url = base + path
    with requests.Session() as http:
        first = http.get(url, timeout=300)
        first.raise_for_status()
        etag = first.headers["ETag"]
        statements = {s["indicator"]: s["value"] for s in first.json()["statements"]}
    variants: dict[str, tuple[dict[str, str], int]] = {
        "plain": ({}, 200), "If-None-Match": ({"If-None-Match": etag}, 304)}
    print(f"  {path}  (values: {statements})")
    for label, (headers, expect) in variants.items():
        with requests.Session() as http:
            for _ in range(3):  # warm every worker's connection pool
                _timed(http, url, headers, expect)
            latencies = [_timed(http, url, headers, expect) for _ in range(requests_count)]
        latencies.sort()
        median = statistics.median(latencies) * 1000
        p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000

        def client(_: int, headers: dict[str, str] = headers, expect: int = expect) -> int:
            with requests.Session() as http:
                for _ in range(requests_count):
                    _timed(http, url, headers, expect)
            return requests_count

        rate = _rate(client, clients)
        print(f"    {label:14s} sequential median {median:7.1f} ms  p95 {p95:7.1f} ms   "
              f"{clients} clients: {rate:7.1f} req/s", flush=True)


def _rate(client: Callable[[int], int], clients: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        done = sum(pool.map(client, range(clients)))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="per variant, and per client")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sqlite-path", default="/tmp/fieldsync-bench/public.db")
    parser.add_argument("--database-url", default=None, help="an empty (or, with --skip-build, built) PostgreSQL "
                                                              "database; default: a throwaway cluster")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()

    cluster = None
    for engine in args.engines.split(","):
        if engine == "sqlite":
            Path(args.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            if not args.skip_build:
                for suffix in ("", "-wal", "-shm"):
                    Path(args.sqlite_path + suffix).unlink(missing_ok=True)
            url = f"sqlite:///{args.sqlite_path}"
        elif args.database_url:
            url = normalise_database_url(args.database_url)
        else:
            from tests.pg_cluster import start_cluster

            cluster = start_cluster()
            url = cluster.create_database("fieldsync_bench_public")
        print(f"{engine}: {url}", flush=True)
        if args.skip_build:
            prepare_database(url)  # migrations only; the seed changes nothing the second time
        else:
            build(url, args.records)
        cold(url)
        with live_server(url, workers=args.workers) as server:
            for path in PATHS.values():
                measure(server.url, path, args.requests, args.clients)
    if cluster is not None:
        cluster.stop()


if __name__ == "__main__":
    main()
