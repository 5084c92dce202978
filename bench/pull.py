"""Initial pull of `records` records through the real server: seconds and bytes on the wire (gzip).

The records are bulk-inserted for one team (as many pushes would have left them: the pull reads
only `records`), then one device of that team pulls the `records` stream from an empty cursor
with `limit` = the advertised `pull_max_limit` and `Accept-Encoding: gzip`, over one keep-alive
connection, until `has_more` is false. Every record must arrive once, in increasing seq.
Bytes on the wire count the compressed bodies and the response headers.
"""

from __future__ import annotations

import gzip
import http.client
import json
import time
import uuid
from datetime import date
from urllib.parse import urlencode, urlparse

import requests
from sqlalchemy import insert

from bench.common import Results, device_for, team_sites
from server.extensions import db
from server.models import Record
from server.persistence.seq import reserve_seqs
from server.persistence.timeutil import utcnow
from tests.e2e.live_server import LiveServer, direct_app

CHUNK = 5000


def insert_records(database_url: str, team_id: str, site_id: str, count: int) -> None:
    """Realistic consultations, bulk-inserted with seqs from the counter."""
    app = direct_app(database_url)
    with app.app_context():
        session = db.session
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
            if len(rows) == CHUNK:
                session.execute(insert(Record), rows)
                rows = []
        if rows:
            session.execute(insert(Record), rows)
        session.commit()
        session.remove()
        db.engine.dispose()


def pull_everything(base_url: str, headers: dict[str, str], limit: int, expected: int) -> dict[str, float]:
    parsed = urlparse(base_url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port)
    wire = plain = pages = received = last_seq = 0
    cursor = None
    started = time.perf_counter()
    while True:
        query = {"stream": "records", "limit": limit, **({"cursor": cursor} if cursor else {})}
        connection.request("GET", "/api/v1/sync/pull?" + urlencode(query),
                           headers={**headers, "Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or response.getheader("Content-Encoding") != "gzip":
            raise RuntimeError(f"pull answered {response.status}, {response.getheader('Content-Encoding')}")
        # The status line ("HTTP/1.1 200 OK\r\n": 17 bytes) and headers, as received.
        wire += len(body) + sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 17
        raw = gzip.decompress(body)
        plain += len(raw)
        page = json.loads(raw)
        for change in page["changes"]:
            if change["seq"] <= last_seq:
                raise RuntimeError("pull: seqs out of order")
            last_seq, received = change["seq"], received + 1
        pages += 1
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    elapsed = time.perf_counter() - started
    connection.close()
    if received != expected:
        raise RuntimeError(f"pull: {received} records, expected {expected}")
    return {"elapsed": elapsed, "wire": wire, "plain": plain, "pages": pages}


def run(database_url: str, server: LiveServer, results: Results, engine_name: str, *, team_id: str,
        records: int) -> None:
    sites = team_sites(database_url, team_id)
    insert_records(database_url, team_id, sites[0], records)
    device = device_for(database_url, team_id)
    limits = requests.get(server.url + "/api/v1/sync/hello", headers=device.headers, timeout=30).json()["limits"]
    limit = int(limits["pull_max_limit"])
    m = pull_everything(server.url, device.headers, limit, records)
    results.add(engine_name, f"pull: initial, {records:,} records", f"{m['elapsed']:.1f} s",
                f"{records / m['elapsed']:,.0f} rec/s, {m['pages']:.0f} pages of {limit}")
    results.add(engine_name, "pull: bytes on the wire (gzip)", f"{m['wire'] / 1e6:.2f} MB",
                f"{m['wire'] / records:.0f} B/record; {m['plain'] / 1e6:.1f} MB uncompressed")
