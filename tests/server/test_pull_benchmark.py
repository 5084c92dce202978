"""Initial pull of 50,000 records through a real HTTP server: time, bytes on the wire, memory.

Not a timed test: it measures and prints, and asserts only what must hold (every record once,
memory bounded by a page, not by the history). Skipped unless asked:

    FIELDSYNC_BENCH=1 .venv/bin/python -m pytest tests/server/test_pull_benchmark.py -s -p no:randomly
    FIELDSYNC_BENCH=1 FIELDSYNC_BENCH_RECORDS=200000 ...   (another size)
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlencode

import pytest
from sqlalchemy import insert
from werkzeug.serving import make_server

from server.extensions import db
from server.models import Record
from server.seed import seed_demo
from server.seq import reserve_seqs
from server.timeutil import utcnow
from tests.conftest import build_app, migrate
from tests.factories import make_device

pytestmark = pytest.mark.skipif(not os.environ.get("FIELDSYNC_BENCH"), reason="benchmark: set FIELDSYNC_BENCH=1")

RECORDS = int(os.environ.get("FIELDSYNC_BENCH_RECORDS", "50000"))


def insert_records(session, team_id: str, site_id: str, count: int) -> None:  # type: ignore[no-untyped-def]
    """Realistic consultations, bulk-inserted (as many pushes would have left them)."""
    now = utcnow()
    seqs = iter(reserve_seqs(session, count))
    groups, sexes, bands = ["refugee", "migrant", "idp", "asylum_seeker"], ["f", "m", "x"], ["0-4", "5-17", "18-59"]
    rows = []
    for n in range(count):
        data = {"population_group": groups[n % 4], "sex": sexes[n % 3], "age_band": bands[n % 3],
                "visit": "new" if n % 5 else "follow_up", "service": "general", "referral": n % 7 == 0,
                "beneficiary_ref": f"ben-{n % 9000:05d}"}
        rows.append({"id": str(uuid.uuid4()), "entity": "consultation", "team_id": team_id, "site_id": site_id,
                     "occurred_on": date(2016, 1 + n % 12, 1 + n % 28), "recorded_at": "2016-05-03T09:58:11Z",
                     "population_group": data["population_group"], "beneficiary_ref": data["beneficiary_ref"],
                     "data": data, "version": 1, "seq": next(seqs), "status": "active", "clock_suspect": False,
                     "device_id": None, "received_at": now, "updated_at": now})
        if len(rows) == 5000:
            session.execute(insert(Record), rows)
            rows = []
    if rows:
        session.execute(insert(Record), rows)


@pytest.fixture(params=["postgresql", "sqlite"])
def served(request: pytest.FixtureRequest, make_database_url) -> Iterator[tuple[str, int, dict[str, str]]]:  # type: ignore[no-untyped-def]
    url = make_database_url(request.param)
    migrate(url)
    app = build_app(url)
    with app.app_context():
        seed_demo(db.session)
        device = make_device(db.session)
        insert_records(db.session, "ly-mmt-tripoli", "ly-mp-tripoli", RECORDS)
        make_device(db.session, team_id="ly-chw-tripoli")
        db.session.commit()
        headers = device.headers
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield request.param, server.server_port, headers
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


def pull_everything(port: int, headers: dict[str, str], limit: int, on_page=None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    connection = http.client.HTTPConnection("127.0.0.1", port)
    wire = plain = pages = 0
    # Count and strictly increasing seqs prove "every record once" without holding 50,000 ids here,
    # which would blur the memory measurement.
    received, last_seq = 0, 0
    cursor = None
    started = time.perf_counter()
    while True:
        query = {"stream": "records", "limit": limit, **({"cursor": cursor} if cursor else {})}
        connection.request("GET", "/api/v1/sync/pull?" + urlencode(query),
                           headers={**headers, "Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and response.getheader("Content-Encoding") == "gzip"
        # Bytes on the wire: the body plus the status line and headers as received.
        wire += len(body) + sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 17
        raw = gzip.decompress(body)
        plain += len(raw)
        page = json.loads(raw)
        for change in page["changes"]:
            assert change["seq"] > last_seq
            last_seq, received = change["seq"], received + 1
        pages += 1
        if on_page:
            on_page(pages)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    elapsed = time.perf_counter() - started
    connection.close()
    assert received == RECORDS
    return {"elapsed": elapsed, "wire": wire, "plain": plain, "pages": pages}


@pytest.mark.parametrize("limit", [500, 1000])
def test_time_and_bytes_of_an_initial_pull(served: tuple[str, int, dict[str, str]], limit: int) -> None:
    engine, port, headers = served
    m = pull_everything(port, headers, limit)
    print(f"\n[{engine}, limit={limit}] {RECORDS} records, {m['pages']:.0f} pages in {m['elapsed']:.2f} s "
          f"({RECORDS / m['elapsed']:,.0f} records/s); on the wire {m['wire'] / 1e6:.2f} MB gzip "
          f"({m['wire'] / RECORDS:.0f} B/record), {m['plain'] / 1e6:.2f} MB uncompressed "
          f"(x{m['plain'] / m['wire']:.1f})")


def test_memory_is_bounded_by_a_page(served: tuple[str, int, dict[str, str]]) -> None:
    """The peak while pulling the last 90% is no higher than while pulling the first 10%:
    memory follows the page size, not the history (tracemalloc: server and client, one process)."""
    engine, port, headers = served
    peaks: dict[str, int] = {}
    warmup_pages = RECORDS // 500 // 10

    def on_page(pages: int) -> None:
        if pages == warmup_pages:
            peaks["first"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()

    tracemalloc.start()
    pull_everything(port, headers, 500, on_page)
    peaks["rest"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"\n[{engine}] peak traced memory: first {warmup_pages} pages {peaks['first'] / 1e6:.1f} MB, "
          f"remaining pages {peaks['rest'] / 1e6:.1f} MB")
    assert peaks["rest"] < peaks["first"] * 1.5 + 2e6
