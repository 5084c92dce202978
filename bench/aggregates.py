"""Latency of aggregates and public totals at a small and a large volume, and their ratio.

One database per engine is filled with `tests/bulk_records.py` (the push engine's rollup code:
`rollups.apply_changes` over the same `contributions`) with synthetic records over 2016-2018:
first `small` records, measured; then topped up to `large`, measured again through a freshly
started server. Each figure is `requests` sequential keep-alive requests after a warm-up:

- `/api/v1/aggregates` health_consultations by area,month for 2016, and the 2016 total (a coordinator);
- the distinct-people indicators (issue 17): people_consulted by area,month for 2016 and its total,
  and hygiene_kit_recipients among refugees, asylum seekers and migrants (the public page's
  statement) by area;
- `/public/v1/countries/LY/impact?year=2016`, warm: the per-process page cache (server/operations/public.py)
  answers while nothing changed, which is what a public website mostly sees;
- the same page cold: the seq counter is bumped before each request, so the page is recomputed
  from the rollups every time (the cost after every push).

Ratio = large median / small median; the goal is <= 1.5.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from itertools import islice

import psycopg
import requests

from bench.common import Engine, Results, coordinator_for, median, percentile
from server.extensions import db
from tests.e2e.live_server import direct_app, live_server, prepare_database

# Records per committed transaction. The rollup code takes one advisory lock per person on
# PostgreSQL, and a transaction may hold only ~max_locks_per_transaction x max_connections of them.
CHUNK = {"sqlite": 50_000, "postgresql": 5_000}
YEAR = 2016
QUERIES = {
    "aggregates by area,month (a year)":
        f"/api/v1/aggregates?indicator=health_consultations&group_by=area,month&country=LY"
        f"&from={YEAR}-01-01&to={YEAR}-12-31",
    "aggregates total (a year)":
        f"/api/v1/aggregates?indicator=health_consultations&country=LY&from={YEAR}-01-01&to={YEAR}-12-31",
    "people_consulted by area,month (a year)":
        f"/api/v1/aggregates?indicator=people_consulted&group_by=area,month&country=LY"
        f"&from={YEAR}-01-01&to={YEAR}-12-31",
    "people_consulted total (a year)":
        f"/api/v1/aggregates?indicator=people_consulted&country=LY&from={YEAR}-01-01&to={YEAR}-12-31",
    "hygiene_kit_recipients, 3 groups, by area (a year)":
        f"/api/v1/aggregates?indicator=hygiene_kit_recipients&group_by=area&country=LY"
        f"&population_group=refugee,asylum_seeker,migrant&from={YEAR}-01-01&to={YEAR}-12-31",
    "public impact, warm": f"/public/v1/countries/LY/impact?year={YEAR}",
    "public impact, cold (seq bumped)": f"/public/v1/countries/LY/impact?year={YEAR}",
}


def load(database_url: str, engine_name: str, start: int, stop: int, total: int) -> float:
    """Add synthetic records number `start` to `stop` of one seeded stream of `total`, so sizes nest."""
    from tests.bulk_records import load_records, synthetic_states

    app = direct_app(database_url)
    started = time.perf_counter()
    with app.app_context():
        # One total for both builds: the stream depends on it (people = total // 4).
        states = islice(synthetic_states(db.session, total), start, stop)
        remaining = stop - start
        while remaining > 0:
            count = load_records(db.session, islice(states, min(CHUNK[engine_name], remaining)))
            db.session.commit()
            remaining -= count
            if count == 0:
                break
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


def _bumper(database_url: str) -> Callable[[], None]:
    """Change what the public page's stamp reads (as any push does), from outside the server."""
    sql = "UPDATE seq_counter SET value = value + 1 WHERE name = 'global'"
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)

        def bump_sqlite() -> None:
            connection.execute(sql)

        return bump_sqlite
    pg = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def bump_pg() -> None:
        # A committed transaction with an id changes the snapshot, the public page's stamp there
        # (server/persistence/seq.py). Never the counter: on PostgreSQL it is the seqs' base, fixed while writers run.
        pg.execute("SELECT pg_current_xact_id()")

    return bump_pg


def measure(database_url: str, coordinator: dict[str, str], *, requests_count: int,
            workers: int) -> dict[str, tuple[float, float]]:
    """(median, p95) in ms per query."""
    bump = _bumper(database_url)
    figures: dict[str, tuple[float, float]] = {}
    with live_server(database_url, workers=workers) as server, requests.Session() as http:
        for label, path in QUERIES.items():
            headers = coordinator if path.startswith("/api/") else {}
            cold = "cold" in label
            for _ in range(5):  # warm-up: connections, caches, the database's buffers
                http.get(server.url + path, headers=headers, timeout=300).raise_for_status()
            times = []
            for _ in range(requests_count):
                if cold:
                    bump()
                started = time.perf_counter()
                response = http.get(server.url + path, headers=headers, timeout=300)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            figures[label] = (median(times), percentile(times, 0.95))
    return figures


def run(eng: Engine, results: Results, *, small: int, large: int, requests_count: int, workers: int) -> None:
    name = eng.name
    url = eng.new_database("aggregates")
    prepare_database(url)
    coordinator = coordinator_for(url)
    built = load(url, name, 0, small, large)
    results.add(name, f"bulk load to {small:,} records", f"{built:.0f} s", f"{small / built:,.0f} rec/s")
    at_small = measure(url, coordinator, requests_count=requests_count, workers=workers)
    built = load(url, name, small, large, large)
    results.add(name, f"bulk load to {large:,} records", f"{built:.0f} s",
                f"{(large - small) / built:,.0f} rec/s through rollups.apply_changes")
    at_large = measure(url, coordinator, requests_count=requests_count, workers=workers)
    for label in QUERIES:
        (m_small, p_small), (m_large, p_large) = at_small[label], at_large[label]
        results.add(name, label, f"{m_small:.1f} / {m_large:.1f} ms",
                    f"median at {small:,} / {large:,}; p95 {p_small:.1f} / {p_large:.1f} ms; "
                    f"ratio {m_large / m_small:.2f} (goal <= 1.5)")
