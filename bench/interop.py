"""Interoperability at volume (issue 16): the line list and the DHIS2 export over a year of Libya.

    python -m bench --only interop [--interop-records 1000000] [--interop-database sqlite:///path.db]

One database per engine gets `records` synthetic records, all in one year (2016), with the
aggregates bench's loader (`tests.bulk_records.load_records`: rows plus rollups, as pushes
leave them). A database already loaded (`--interop-database`, which keeps it for the next run)
is reused when it holds that many records. Then:

- line list: `GET /api/v1/records?country=LY&format=jsonl|csv|xlsx` through a real gunicorn server
  (one worker), read to the end, for one month and for the whole year (XLSX for the month only);
  records per second, and the worker's peak RSS sampled every 20 ms: constant memory means the
  year's peak is no higher than the month's;
- DHIS2: `dhis2 export --country LY --period 2016MM` for the twelve months in-process (the CLI's
  code path), seconds and payload bytes (JSON and ADX), plus the process's peak RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from itertools import islice

import requests
from sqlalchemy import func, select

from bench.common import Engine, Results, coordinator_for, proc_status_kb
from server.extensions import db
from server.persistence.migrations_state import PROJECT_ROOT
from tests.e2e.live_server import direct_app, live_server, prepare_database

YEAR = 2016
CHUNK = {"sqlite": 50_000, "postgresql": 5_000}


def record_count(database_url: str) -> int:
    from server.models import Record

    app = direct_app(database_url)
    with app.app_context():
        try:
            count = db.session.execute(select(func.count()).select_from(Record)).scalar_one()
        except Exception:  # not migrated yet
            count = -1
        db.session.remove()
        db.engine.dispose()
    return count


def load_year(database_url: str, engine_name: str, total: int) -> float:
    """`total` synthetic records in YEAR, through the aggregates bench's bulk loader."""
    from datetime import date

    from tests.bulk_records import load_records, synthetic_states

    app = direct_app(database_url)
    started = time.perf_counter()
    with app.app_context():
        states = synthetic_states(db.session, total, start=date(YEAR, 1, 1), days=366)
        remaining = total
        while remaining > 0:
            count = load_records(db.session, islice(states, min(CHUNK[engine_name], remaining)))
            db.session.commit()
            remaining -= count
            if count == 0:
                break
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


def ensure_loaded(database_url: str, engine_name: str, total: int) -> float | None:
    """Load `total` records into a fresh database; None if it already holds them."""
    count = record_count(database_url)
    if count == total:
        return None
    if count > 0:
        raise SystemExit(f"{database_url} holds {count} records, not {total}: use another database")
    prepare_database(database_url)
    return load_year(database_url, engine_name, total)


class PeakRss:
    """Samples a process's VmRSS every 20 ms in a thread; `peak` in kB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status_kb(self.pid, "VmRSS"))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stream_list(url: str, headers: dict[str, str], pid: int) -> tuple[float, int, int, int]:
    """(seconds, bytes, newline count, peak worker RSS kB) of one line list read to the end."""
    started = time.perf_counter()
    size = lines = 0
    with PeakRss(pid) as rss, requests.get(url, headers=headers, stream=True, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines, rss.peak


def line_lists(database_url: str, results: Results, engine_name: str, records: int) -> None:
    coordinator = coordinator_for(database_url)
    with live_server(database_url, workers=1, threads=2) as server:
        (pid,) = server.worker_pids()
        base = server.url + "/api/v1/records?country=LY"
        requests.get(base + "&month=1999-01", headers=coordinator, timeout=60).raise_for_status()  # warm-up
        idle = proc_status_kb(pid, "VmRSS")
        results.add(engine_name, "line list: worker RSS before", f"{idle / 1024:.0f} MiB", "one gunicorn worker")
        # XLSX only for the month: openpyxl writes a few thousand rows a second, so the year would take
        # many minutes of the run for a figure the month's rate already gives.
        for label, query, outputs in (("a month (2016-03)", "&month=2016-03", ("jsonl", "csv", "xlsx")),
                                      ("the year", "", ("jsonl", "csv"))):
            for output in outputs:
                seconds, size, lines, peak = stream_list(f"{base}{query}&format={output}", coordinator, pid)
                listed = lines if output == "jsonl" else (lines - 1 if output == "csv" else None)
                rate = f"{listed / seconds:,.0f} rec/s" if listed is not None else f"{size / seconds / 1e6:.1f} MB/s"
                results.add(engine_name, f"line list {output}, {label}", f"{seconds:.1f} s",
                            f"{rate}; {size / 1e6:,.1f} MB; {listed if listed is not None else '-'} rows; "
                            f"worker peak RSS {peak / 1024:.0f} MiB (idle {idle / 1024:.0f})")


def dhis2_export(database_url: str, results: Results, engine_name: str) -> None:
    periods = [arg for month in range(1, 13) for arg in ("--period", f"{YEAR}{month:02d}")]
    env = {**os.environ, "DATABASE_URL": database_url}
    for output in ("json", "adx"):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "server", "dhis2", "export", "--country", "LY",
                               *periods, "--format", output], cwd=PROJECT_ROOT, env=env, capture_output=True,
                              check=True)
        seconds = time.perf_counter() - started
        results.add(engine_name, f"dhis2 export {output}, LY {YEAR} (12 months)", f"{seconds:.1f} s",
                    f"{len(done.stdout) / 1e6:.2f} MB payload; {done.stderr.decode().strip()}; "
                    "a whole CLI process, start-up included")


def run(eng: Engine, results: Results, *, records: int, database_url: str | None = None) -> None:
    name = eng.name
    url = database_url or eng.new_database("interop")
    took = ensure_loaded(url, name, records)
    if took is not None:
        results.add(name, f"bulk load {records:,} records in {YEAR}", f"{took:.0f} s", f"{records / took:,.0f} rec/s")
    line_lists(url, results, name, records)
    dhis2_export(url, results, name)


if __name__ == "__main__":  # load only: python -m bench.interop URL COUNT
    import sys

    url, size = sys.argv[1], int(sys.argv[2])
    took = ensure_loaded(url, "sqlite" if url.startswith("sqlite") else "postgresql", size)
    print(f"loaded {size} records in {took} s" if took else "already loaded")
