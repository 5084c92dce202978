"""Interoperability at volume (issue 16): the line list and the DHIS2 export over a year of Libya.

    python -m bench --only interop [--interop-records 1000000] [--interop-database sqlite:///path.db]

One database per engine gets `records` synthetic records, all in one year (2016), with the
aggregates bench's loader (`server.aggregation.bulk.load_records`: rows plus rollups, as pushes
leave them). A database already loaded (`--interop-database`, which keeps it for the next run)
is reused when it holds that many records. Then:

- line list: `GET /api/v1/records?country=LY&format=jsonl|csv|xlsx` through a real gunicorn server
  (one worker), read to the end; records per second, and the worker's peak RSS (VmHWM) before
  and after: constant memory means the peak does not grow with the records streamed;
- DHIS2: `dhis2 export --country LY --period 2016MM` for the twelve months in-process (the CLI's
  code path), seconds and payload bytes (JSON and ADX), plus the process's peak RSS.
"""

from __future__ import annotations

import time
from itertools import islice

from sqlalchemy import func, select

from server.extensions import db
from tests.e2e.live_server import direct_app, prepare_database

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

    from server.aggregation.bulk import load_records, synthetic_states

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


if __name__ == "__main__":  # load only: python -m bench.interop URL COUNT
    import sys

    url, size = sys.argv[1], int(sys.argv[2])
    took = ensure_loaded(url, "sqlite" if url.startswith("sqlite") else "postgresql", size)
    print(f"loaded {size} records in {took} s" if took else "already loaded")
