"""The pull-horizon check: writers of many teams commit out of seq order while pullers page through
their streams, and one writer is killed mid-transaction (PostgreSQL, through a real gunicorn).

Eight tablets of eight teams and two more of one of those teams push JSON batches and send OpenRosa
submissions, while four pullers page through their teams' streams with random page sizes, random
pauses and a new connection per page; one more writer holds a transaction with a record in it and
is killed. `exercise` asserts that every puller ends with every committed record of its team exactly
once and that the killed writer's record reaches nobody. tests/e2e/test_pull_horizon.py runs it
short in `make test`; bench/pull_horizon.py runs it longer in `make bench`.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import create_engine, select, text

from server.extensions import db
from server.integrations.openrosa.forms import served_form
from server.models import Record
from tests.e2e.conftest import Tablet, enrol_tablets
from tests.e2e.live_server import direct_app
from tests.factories import consultation_data, create_mutation, make_record, push_body
from tests.openrosa_instances import consultation_values, fill

SITES = {"ly-mmt-benghazi": "ly-mp-benghazi", "ly-mmt-misrata": "ly-mp-misrata", "ly-mmt-sabha": "ly-mp-sabha",
         "ly-mmt-tripoli": "ly-mp-tripoli", "ly-dcmt-khoms": "ly-dc-khoms", "ly-dcmt-kufra": "ly-dc-kufra",
         "ly-dcmt-misrata": "ly-dc-misrata", "ly-dcmt-sabha": "ly-dc-sabha"}
WRITERS = [*SITES, "ly-mmt-tripoli", "ly-mmt-tripoli"]  # 8 teams, and 2 more tablets of one of them
PULLED = ["ly-mmt-tripoli", "ly-mmt-benghazi", "ly-dcmt-khoms", "ly-dcmt-sabha"]
ROUNDS = 6  # per writer: a JSON batch of 1-15 records, then an OpenRosa submission


def _write(base: str, tablet: Tablet, seed: int, committed: list[str], lock: threading.Lock, rounds: int) -> None:
    rng = random.Random(seed)
    site = SITES[tablet.team_id]
    form = served_form("fieldsync_consultation").xml
    collect = f"{base}/openrosa/v1/key/{tablet.token}/submission"
    with requests.Session() as http:
        for _ in range(rounds):
            creates = [create_mutation(data=consultation_data(team_id=tablet.team_id, site_id=site))
                       for _ in range(rng.randint(1, 15))]
            body = push_body(creates)
            response = http.post(base + "/api/v1/sync/push", json=body, timeout=120,
                                 headers={**tablet.headers, "Idempotency-Key": body["batch_id"]})
            assert response.status_code == 200, response.text
            assert {r["status"] for r in response.json()["results"]} == {"applied"}
            with lock:
                committed += [m["id"] for m in creates]
            instance_id, xml = fill(form, consultation_values(site_id=site))
            response = http.post(collect, files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
                                 headers={"X-OpenRosa-Version": "1.0"}, timeout=120)
            assert response.status_code == 201, response.text
            with lock:
                committed.append(instance_id)
            time.sleep(rng.random() * 0.02)


class Puller(threading.Thread):
    def __init__(self, base: str, tablet: Tablet, seed: int, writers_done: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.tablet, self.rng, self.writers_done = base, tablet, random.Random(seed), writers_done
        self.received: list[str] = []
        self.pages = 0
        self.failures: list[BaseException] = []

    def page(self, cursor: str | None) -> dict[str, Any]:
        query = {"stream": "records", "limit": self.rng.randint(1, 40), **({"cursor": cursor} if cursor else {})}
        with requests.Session() as http:  # a new connection each page, as a tablet coming back online
            response = http.get(self.base + "/api/v1/sync/pull", params=query, headers=self.tablet.headers,
                                timeout=60)
        assert response.status_code == 200, response.text
        self.pages += 1
        return response.json()

    def run(self) -> None:
        try:
            cursor: str | None = None
            while True:
                done = self.writers_done.is_set()  # read before the page: a page after it sees every commit
                page = self.page(cursor)
                self.received += [change["id"] for change in page["changes"]]
                cursor = page["next_cursor"]
                if done and not page["has_more"]:
                    return
                if not page["has_more"]:
                    time.sleep(self.rng.random() * 0.05)
        except BaseException as exc:  # reported by the test
            self.failures.append(exc)


def _hold_and_get_killed(url: str, ready: threading.Event, state: dict[str, Any],
                         terminated: threading.Event) -> None:
    """A writer that takes its seq, writes a record and never commits: its backend is killed."""
    app = direct_app(url)
    with app.app_context():
        try:
            state["id"] = make_record(db.session, team_id="ly-mmt-tripoli").id  # flushed: a row with its seq
            state["pid"] = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            ready.set()
            # The others write (and commit above its seq) meanwhile, until the test has killed this
            # backend: a fixed sleep ran out first on a loaded machine, and this writer committed.
            terminated.wait(60)
            db.session.execute(text("SELECT 1"))  # the backend is gone by now
            db.session.commit()
            state["committed"] = True
        except Exception:
            state["committed"] = False
        finally:
            ready.set()
            db.session.remove()
            db.engine.dispose()


@dataclass(frozen=True)
class HorizonRun:
    records: int  # committed by the writers
    pulled: dict[str, int]  # team -> changes its puller received (each exactly once)
    pages: dict[str, int]  # team -> pages its puller read
    seconds: float


def exercise(base: str, url: str, *, rounds: int = ROUNDS) -> HorizonRun:
    """The whole check against the server at `base` on the database `url` (PostgreSQL): writers of
    many teams push and submit `rounds` times each while pullers page through their teams' streams,
    a held writer is killed; asserts that every puller got every committed change of its team
    exactly once and nothing of the killed writer's."""
    started = time.perf_counter()
    tablets = enrol_tablets(url, WRITERS)
    readers = enrol_tablets(url, PULLED)
    committed: list[str] = []
    lock = threading.Lock()
    writers_done = threading.Event()
    pullers = [Puller(base, tablet, seed, writers_done) for seed, tablet in enumerate(readers)]
    for puller in pullers:
        puller.start()

    ready, terminated, killed = threading.Event(), threading.Event(), {}
    holder = threading.Thread(target=_hold_and_get_killed, args=(url, ready, killed, terminated))
    holder.start()
    assert ready.wait(30) and "pid" in killed
    failures: list[BaseException] = []

    def writer(seed: int, tablet: Tablet) -> None:
        try:
            _write(base, tablet, seed, committed, lock, rounds)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(seed, tablet)) for seed, tablet in enumerate(tablets)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed["pid"]}).scalar()
            connection.commit()
        terminated.set()
        for thread in threads:
            thread.join(300)
        holder.join(30)
        writers_done.set()
        for puller in pullers:
            puller.join(300)
        assert not failures, failures
        assert killed["committed"] is False
        for puller in pullers:
            assert not puller.failures, puller.failures
            assert not puller.is_alive()

        with engine.connect() as connection:
            stored = {row.id: row.team_id for row in connection.execute(select(Record.id, Record.team_id))}
    finally:
        engine.dispose()
    assert set(stored) == set(committed) and len(committed) == len(set(committed)), "a write lost or doubled"
    assert killed["id"] not in stored, "the killed writer's record was committed"
    for puller in pullers:
        team = puller.tablet.team_id
        expected = {record_id for record_id, record_team in stored.items() if record_team == team}
        assert len(puller.received) == len(set(puller.received)), f"{team}: a change was served twice"
        assert set(puller.received) == expected, f"{team}: {len(expected - set(puller.received))} changes skipped"
        assert puller.pages > 10
    return HorizonRun(records=len(committed), pulled={p.tablet.team_id: len(p.received) for p in pullers},
                      pages={p.tablet.team_id: p.pages for p in pullers}, seconds=time.perf_counter() - started)
