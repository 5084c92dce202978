"""A push costs the same however much is already stored (issue 31).

One tablet pushes consultations of `people` returning people (each with a beneficiary_ref, their sex,
age band and population group fixed, services and visits varying, dates over the last year) into a
team whose country already holds `history` records of the same people, and, batch for batch in
turn, a second tablet pushes the same kind of records of as many other people into a team that
holds nothing. Alternating the batches puts both sides under the same machine load. The figure is
the rate into the full team over the rate into the empty one (goal >= 0.8).

The history is loaded by `tests.bulk_records.load_records` (the push's own rollup code: cells, person
facts, distinct cells), committed in chunks.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import date, timedelta
from itertools import islice
from typing import Any

import requests

from bench.common import Engine, Results, device_for, team_sites
from server.extensions import db
from sync.domain import Entity
from tests.e2e.live_server import direct_app, live_server, prepare_database
from tests.factories import push_body

FULL, EMPTY = "ly-mmt-tripoli", "ly-mmt-benghazi"
SERVICES = ["general", "mhpss", "srh", "gbv", "ncd", "trauma", "vaccination"]
CHUNK = 5_000


def _fields(rng: random.Random, ref_prefix: str, people: int) -> tuple[date, dict[str, Any]]:
    person = rng.randrange(people)
    traits = random.Random(f"{ref_prefix}{person}")  # a person's own sex, age band and group
    occurred = date.today() - timedelta(days=1 + rng.randrange(365))
    return occurred, {"population_group": traits.choice(["refugee", "migrant", "idp", "asylum_seeker"]),
                      "sex": traits.choice(["f", "m"]), "age_band": traits.choice(["5-17", "18-59", "60+"]),
                      "visit": rng.choice(["new", "follow_up"]), "service": rng.choice(SERVICES),
                      "referral": rng.random() < 0.1, "beneficiary_ref": f"{ref_prefix}{person:04d}"}


def _mutations(count: int, team: str, sites: list[str], ref_prefix: str, people: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        occurred, data = _fields(rng, ref_prefix, people)
        data |= {"team_id": team, "site_id": rng.choice(sites), "occurred_on": occurred.isoformat(),
                 "recorded_at": f"{occurred.isoformat()}T{rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:00Z"}
        out.append({"op_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "kind": "create",
                    "entity": "consultation", "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "data": data})
    return out


def _load_history(url: str, team: str, sites: list[str], count: int, people: int) -> float:
    from tests.bulk_records import load_records, make_state

    rng = random.Random(7)

    def states():  # type: ignore[no-untyped-def]
        for _ in range(count):
            occurred, data = _fields(rng, "ret-", people)
            yield make_state(Entity.CONSULTATION, team, rng.choice(sites), occurred, data)

    app = direct_app(url)
    started = time.perf_counter()
    with app.app_context():
        stream = states()
        while load_records(db.session, islice(stream, CHUNK)):
            db.session.commit()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


def run(eng: Engine, results: Results, *, history: int, records: int, people: int, workers: int) -> None:
    name = eng.name
    url = eng.new_database("returning")
    prepare_database(url)
    full_sites, empty_sites = team_sites(url, FULL), team_sites(url, EMPTY)
    load_s = _load_history(url, FULL, full_sites, history, people)
    full_tablet, empty_tablet = device_for(url, FULL), device_for(url, EMPTY)
    size = 500
    full = [push_body(b) for b in _batches(_mutations(records, FULL, full_sites, "ret-", people, 11), size)]
    empty = [push_body(b) for b in _batches(_mutations(records, EMPTY, empty_sites, "new-", people, 12), size)]
    times = {"full": 0.0, "empty": 0.0}
    with live_server(url, workers=workers) as server, requests.Session() as http:
        for side, (tablet, team, sites) in enumerate(((full_tablet, FULL, full_sites),
                                                      (empty_tablet, EMPTY, empty_sites))):
            for n in range(workers * 2):  # warm every worker, on both teams
                warm = push_body(_mutations(5, team, sites, "warm-", 5, 900 + 100 * side + n))
                with requests.Session() as fresh:
                    _post(fresh, server.url, tablet.headers, warm)
        for full_body, empty_body in zip(full, empty, strict=True):
            for side, tablet, body in (("full", full_tablet, full_body), ("empty", empty_tablet, empty_body)):
                started = time.perf_counter()
                _post(http, server.url, tablet.headers, body)
                times[side] += time.perf_counter() - started
    full_rate, empty_rate = records / times["full"], records / times["empty"]
    results.add(name, "push: into a team with history / into an empty team", f"{full_rate / empty_rate:.2f}",
                f"{full_rate:,.0f} / {empty_rate:,.0f} rec/s; {records:,} records each, batches of {size} in turn; "
                f"the full team holds {history:,} records of {people} returning people (loaded in {load_s:.0f} s); "
                f"goal >= 0.8")


def _batches(mutations: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [mutations[i:i + size] for i in range(0, len(mutations), size)]


def _post(http: requests.Session, base: str, headers: dict[str, str], body: dict[str, Any]) -> None:
    response = http.post(base + "/api/v1/sync/push", json=body, timeout=300,
                         headers={**headers, "Idempotency-Key": str(body["batch_id"])})
    statuses = {result["status"] for result in response.json().get("results", [])}
    if response.status_code != 200 or statuses != {"applied"}:
        raise RuntimeError(f"push answered {response.status_code}: {response.text[:300]}")
