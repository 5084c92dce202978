"""The `make load` scenario: tablets syncing, coordinators on the dashboard, the website reading.

    PYTHONPATH=. LOAD_ACCOUNTS=accounts.json .venv/bin/locust -f bench/load/locustfile.py --host http://127.0.0.1:5000

`python -m bench.load` makes the database, the accounts file and the server, then runs this file
headless. The accounts file (`bench.load.Accounts`, JSON) holds the device and coordinator
headers, the years that have records and how many website readers to start; each user class
starts exactly as many users as the file names (`fixed_count`), so `--users` is their sum.

Every request is named by its route (ids and query strings left out) so locust's statistics
group per endpoint. Answers are checked, not just their status: a push whose items are not all
`applied` (or `duplicate` on a replay), a pull that skips a record this tablet just pushed, or an
aggregate without `rows` is a locust failure with the reason.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.clients import ResponseContextManager
from locust.env import Environment

from bench.common import consultations
from tests.factories import push_body

PUSH = "POST /api/v1/sync/push"
PULL = "GET /api/v1/sync/pull?stream={stream}"
AGGREGATES = "GET /api/v1/aggregates"
IMPACT = "GET /public/v1/countries/{code}/impact"
# A pull page as large as a tablet asks for (api.md's example); the server's maximum may be higher.
PULL_LIMIT = 500
BATCH_SIZES = (20, 100)  # consultations per push: a day or a few days of one tablet's work
BATCH_REPLAY = 0.10  # the response was lost: the same batch again, same Idempotency-Key
OP_REPLAY = 0.05  # the app rebuilt its outbox after a crash: the same mutations under a new batch id


def _accounts() -> dict[str, Any]:
    path = os.environ.get("LOAD_ACCOUNTS")
    if not path:  # imported without a run (ruff, a smoke import): one user of each class
        return {"tablets": [{}], "coordinators": [{}], "readers": 1, "years": [], "country": "LY"}
    return json.loads(Path(path).read_text())


ACCOUNTS = _accounts()
# Users of one class are numbered as locust starts them, so each takes its own device or token.
_tablet_numbers = itertools.count()
_coordinator_numbers = itertools.count()


@events.test_stop.add_listener
def write_stats(environment: Environment, **_: Any) -> None:
    """Per endpoint figures as JSON for the runner (LOAD_STATS). Written here, once every user has
    stopped: locust's own --csv files are written before the syncs still in flight at the end finish,
    so they miss their last requests."""
    path = os.environ.get("LOAD_STATS")
    if not path:
        return
    stats = environment.stats
    # From the start to now (every user stopped): the run time plus the last syncs' grace period.
    elapsed = max(time.time() - stats.total.start_time, 1.0)

    def entry(e: Any) -> dict[str, Any]:
        return {"name": e.name, "requests": e.num_requests, "failures": e.num_failures,
                "p50": e.get_response_time_percentile(0.5), "p95": e.get_response_time_percentile(0.95),
                "rate": e.num_requests / elapsed}

    Path(path).write_text(json.dumps({
        "endpoints": [entry(e) for e in sorted(stats.entries.values(), key=lambda e: e.name)],
        "total": entry(stats.total),
        "failures": [{"name": e.name, "error": str(e.error), "occurrences": e.occurrences}
                     for e in stats.errors.values()],
        # Exceptions raised in a task (an answer that is not the JSON it should be) are not in the stats.
        "exceptions": [{"error": row["msg"], "occurrences": row["count"]}
                       for row in (environment.runner.exceptions.values() if environment.runner else [])],
    }))


def _fail(response: ResponseContextManager, reason: str) -> None:
    """A failure whose text starts with the status, so the runner can tell 5xx from wrong answers."""
    response.failure(f"HTTP {response.status_code}: {reason}")


def _error_text(response: ResponseContextManager) -> str:
    return (response.text or "")[:200]


class Tablet(HttpUser):
    """One enrolled device: each sync pushes what it recorded since the last one, then pulls its team's
    records to the end. Waits are seconds where a real tablet waits minutes or hours: a few tablets
    here stand for many in the field."""

    fixed_count = len(ACCOUNTS["tablets"])
    wait_time = between(1, 4)

    def on_start(self) -> None:
        self.number = next(_tablet_numbers)
        account = ACCOUNTS["tablets"][self.number % len(ACCOUNTS["tablets"])]
        self.headers: dict[str, str] = account["headers"]
        self.team_id: str = account["team_id"]
        self.sites: list[str] = account["sites"]
        self.rng = random.Random()
        self.cursors: dict[str, str | None] = {"reference": None, "records": None}
        self.unseen: set[str] = set()  # ids this tablet pushed that no pull has returned yet
        self.last_body: dict[str, Any] | None = None
        self.last_results: list[dict[str, Any]] | None = None
        self.client.get("/api/v1/sync/hello", headers=self.headers, name="GET /api/v1/sync/hello")
        # A freshly enrolled tablet fetches the reference data and its team's records before working.
        self.pull("reference")
        self.pull("records")

    @task
    def sync(self) -> None:
        roll = self.rng.random()
        if self.last_body is not None and roll < BATCH_REPLAY:
            self.replay_batch(self.last_body)
        elif self.last_body is not None and roll < BATCH_REPLAY + OP_REPLAY:
            self.push(push_body(self.last_body["mutations"]), expect="duplicate", name=PUSH + " (op replay)")
        else:
            size = self.rng.randint(*BATCH_SIZES)
            mutations = consultations(size, self.team_id, self.sites, seed=self.rng.getrandbits(64))
            for mutation in mutations:
                # consultations() draws people from one pool for everyone; each tablet sees its own
                # caseload in the field, and people shared by every tablet would pile hundreds of
                # visits a month onto the same person-months (and their rollup rows) within a minute.
                if "beneficiary_ref" in mutation["data"]:
                    mutation["data"]["beneficiary_ref"] = f"t{self.number}-{mutation['data']['beneficiary_ref']}"
            self.push(push_body(mutations), expect="applied", name=PUSH)
        self.pull("records")

    def push(self, body: dict[str, Any], *, expect: str, name: str) -> None:
        headers = {**self.headers, "Idempotency-Key": str(body["batch_id"])}
        with self.client.post("/api/v1/sync/push", json=body, headers=headers, name=name,
                              catch_response=True) as response:
            if response.status_code != 200:
                return _fail(response, _error_text(response))
            results = response.json()["results"]
            statuses = [result["status"] for result in results]
            if len(results) != len(body["mutations"]) or set(statuses) != {expect}:
                rejected = next((r.get("errors") for r in results if r["status"] == "rejected"), None)
                return _fail(response, f"expected all {expect}, got {sorted(set(statuses))} {rejected or ''}")
            response.success()
        if expect == "applied":
            self.last_body, self.last_results = body, results
            self.unseen.update(m["id"] for m in body["mutations"])

    def replay_batch(self, body: dict[str, Any]) -> None:
        """The same batch under the same key: the stored response, marked as replayed."""
        headers = {**self.headers, "Idempotency-Key": str(body["batch_id"])}
        with self.client.post("/api/v1/sync/push", json=body, headers=headers, name=PUSH + " (batch replay)",
                              catch_response=True) as response:
            if response.status_code != 200:
                return _fail(response, _error_text(response))
            if response.headers.get("Idempotent-Replayed") != "true":
                return _fail(response, "no Idempotent-Replayed: true")
            if response.json()["results"] != self.last_results:
                return _fail(response, "replayed results differ from the first answer")
            response.success()

    def pull(self, stream: str) -> None:
        """Page until has_more is false, checking seq order; the records stream must bring back
        every record this tablet pushed (its push was answered before this pull began)."""
        last_seq = -1
        while True:
            params: dict[str, str | int] = {"stream": stream, "limit": PULL_LIMIT}
            if self.cursors[stream]:
                params["cursor"] = self.cursors[stream] or ""
            with self.client.get("/api/v1/sync/pull", params=params, headers=self.headers,
                                 name=PULL.format(stream=stream), catch_response=True) as response:
                if response.status_code == 410:
                    # Nothing in this scenario changes scope or prunes history: a reset is a server fault.
                    self.cursors[stream] = None
                    return _fail(response, "reset_required")
                if response.status_code != 200:
                    return _fail(response, _error_text(response))
                page = response.json()
                seqs = [change["seq"] for change in page["changes"]]
                if seqs != sorted(seqs) or (seqs and seqs[0] <= last_seq):
                    return _fail(response, "changes out of seq order")
                last_seq = seqs[-1] if seqs else last_seq
                if stream == "records":
                    self.unseen.difference_update(change["id"] for change in page["changes"])
                self.cursors[stream] = page["next_cursor"]
                if page["has_more"]:
                    response.success()
                    continue
                if stream == "records" and self.unseen:
                    missing = len(self.unseen)
                    self.unseen.clear()  # report them once
                    return _fail(response, f"pull to the end missed {missing} record(s) this tablet pushed")
                response.success()
                return


class Coordinator(HttpUser):
    """A coordinator on the dashboard (server/dashboard/static/dashboard.js): the overview's figures
    for a year and filters, the sync-health page, now and then a CSV download."""

    fixed_count = len(ACCOUNTS["coordinators"])
    wait_time = between(3, 8)  # reading the figures before changing a filter

    def on_start(self) -> None:
        account = ACCOUNTS["coordinators"][next(_coordinator_numbers) % len(ACCOUNTS["coordinators"])]
        self.headers: dict[str, str] = account["headers"]
        self.rng = random.Random()
        self.indicators = self.list_all("/api/v1/indicators")
        self.teams = [team["id"] for team in self.list_all("/api/v1/teams")]

    def list_all(self, path: str) -> list[dict[str, Any]]:
        """Every page of a list endpoint, as the dashboard's fetchAll does."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            with self.client.get(path, params=params, headers=self.headers, name="GET " + path,
                                 catch_response=True) as response:
                if response.status_code != 200:
                    _fail(response, _error_text(response))
                    return items
                page = response.json()
                response.success()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def aggregate(self, params: dict[str, str], name: str = AGGREGATES) -> None:
        with self.client.get("/api/v1/aggregates", params=params, headers=self.headers, name=name,
                             catch_response=True) as response:
            if response.status_code != 200:
                return _fail(response, _error_text(response))
            if params.get("format") == "csv":
                if not response.text.startswith("area,"):
                    return _fail(response, "CSV without its header row")
            elif "rows" not in response.json() or "total" not in response.json():
                return _fail(response, "no rows/total")
            response.success()

    def filters(self) -> dict[str, str]:
        year = self.rng.choice(ACCOUNTS["years"])
        params = {"country": ACCOUNTS["country"], "from": f"{year}-01-01", "to": f"{year}-12-31"}
        roll = self.rng.random()
        if roll < 0.2:
            params["team"] = self.rng.choice(self.teams)
        elif roll < 0.4:
            params["population_group"] = self.rng.choice(["refugee,migrant", "idp", "asylum_seeker,refugee"])
        return params

    @task(4)
    def overview(self) -> None:
        """refresh(): every indicator's total, then the chosen one by month, area, group, sex x age."""
        params = self.filters()
        for indicator in self.indicators:
            self.aggregate({**params, "indicator": indicator["code"]})
        chosen = self.rng.choice(self.indicators)
        breakdowns = ["month", "area", "population_group"]
        if {"sex", "age_band"} <= set(chosen["dimensions"]):
            breakdowns.append("sex,age_band")
        for group_by in breakdowns:
            self.aggregate({**params, "indicator": chosen["code"], "group_by": group_by})

    @task(1)
    def sync_health(self) -> None:
        self.list_all("/api/v1/teams")
        self.list_all("/api/v1/devices")

    @task(1)
    def download(self) -> None:
        self.aggregate({**self.filters(), "indicator": "health_consultations", "group_by": "area,month",
                        "format": "csv"}, name=AGGREGATES + "?format=csv")


class WebsiteReader(HttpUser):
    """The public website fetching a country's impact statements (no login), revalidating with the
    ETag it holds as a browser or CDN does once max-age has passed."""

    fixed_count = int(ACCOUNTS["readers"])
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.etags: dict[str, str] = {}

    @task
    def impact(self) -> None:
        code = ACCOUNTS["country"]
        params = {"year": str(self.rng.choice(ACCOUNTS["years"]))}
        if self.rng.random() < 0.3:
            params["by"] = "area"
        key = json.dumps(params, sort_keys=True)
        headers = {"If-None-Match": self.etags[key]} if key in self.etags else {}
        with self.client.get(f"/public/v1/countries/{code}/impact", params=params, headers=headers,
                             name=IMPACT, catch_response=True) as response:
            if response.status_code == 304 and headers:
                return response.success()
            if response.status_code != 200:
                return _fail(response, _error_text(response))
            if "statements" not in response.json() or not response.headers.get("ETag"):
                return _fail(response, "no statements or no ETag")
            self.etags[key] = response.headers["ETag"]
            response.success()
