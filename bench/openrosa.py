"""OpenRosa submissions per second through gunicorn, one record per request as Collect sends them,
against the JSON push of the same records one per request and in full batches.

One fresh database and one `gunicorn --config gunicorn.conf.py` per figure (so no figure pays for
rows another left), per engine:

1. **OpenRosa, one tablet**: `submissions` consultation instances (the served XForm's own instance,
   filled as tests/openrosa_instances.py does): one `HEAD submission`, then the multipart `POST`
   Collect makes for each, on one keep-alive connection. Rate = records applied / wall-clock seconds.
2. **OpenRosa, `clients` tablets at once**: the same number split over `clients` tablets of the team.
3. **JSON push, one record per request**: the same records as `POST /api/v1/sync/push` batches of one.
4. **JSON push, batched**: the same records in batches of `push_max_mutations` (what the Fieldsync app
   does; the ceiling the per-request figures are judged against).
5. **Minimal ingest**: figures 1 and 2 again against bench/openrosa_reference.py, the leanest durable
   OpenRosa ingest we could write (key lookup, multipart, defusedxml, one INSERT and COMMIT) served by
   the same gunicorn configuration on the same engine. Fieldsync / minimal is the figure that factors
   out the machine: the client shares its cores, and their speed drifts from run to run.
6. **Minimal + record rows**: the same server also validating the instance with Fieldsync's schema
   and writing the seq, record, revision and op-memory rows in the same transaction: a floor for
   what a submission with Fieldsync's guarantees costs here (still no rollups, logs or metrics).
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.common import (
    CpuShares,
    Engine,
    Results,
    consultations,
    cpu_groups,
    device_for,
    team_sites,
)
from server.integrations.openrosa.forms import served_form
from tests.e2e.live_server import live_server, prepare_database
from tests.factories import push_body
from tests.openrosa_instances import fill

TEAM = "ly-mmt-tripoli"
TEAMS = ["ly-mmt-tripoli", "ly-mmt-benghazi", "ly-mmt-misrata", "ly-mmt-sabha"]
GOAL_PER_SECOND = 200  # four times ODK Central's published 50/s soak target
MINIMAL_SERVER: dict[str, Any] = {"app": "bench.openrosa_reference:create_app()",
                                  "config": "bench/openrosa_reference_gunicorn.py"}
GUARANTEES_SERVER: dict[str, Any] = {**MINIMAL_SERVER, "env": {"REFERENCE_ROWS": "guarantees"}}


def collect_instances(mutations: list[dict[str, Any]]) -> list[bytes]:
    """The consultations as Collect instances: the same fields, ids and recorded_at."""
    form = served_form("fieldsync_consultation").xml
    out = []
    for mutation in mutations:
        data = dict(mutation["data"])
        recorded_at = data.pop("recorded_at")
        data.pop("team_id")
        data["referral"] = "yes" if data["referral"] else "no"
        _, xml = fill(form, data, instance_id=mutation["id"], end=recorded_at)
        out.append(xml)
    return out


def collect_body(xml: bytes) -> tuple[bytes, str]:
    """The body and Content-Type Collect sends for one instance, with a random boundary each time
    as okhttp makes. Built before the clock starts: a tablet encodes its own bodies, and the
    benchmark's client shares the server's two cores."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; "
            f"filename=\"submission.xml\"\r\nContent-Type: text/xml\r\n\r\n").encode() + xml \
        + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def submit_all(base: str, instances: list[bytes]) -> None:
    bodies = [collect_body(xml) for xml in instances]
    with requests.Session() as http:
        # Collect asks HEAD once per send (it remembers the answer for the server URL), then POSTs
        # each finalized form.
        head = http.head(base + "/submission", timeout=60)
        if head.status_code != 204:
            raise RuntimeError(f"HEAD answered {head.status_code}")
        for body, content_type in bodies:
            response = http.post(base + "/submission", timeout=60, data=body,
                                 headers={"Content-Type": content_type, "X-OpenRosa-Version": "1.0"})
            if response.status_code != 201:
                raise RuntimeError(f"submission answered {response.status_code}: {response.text[:300]}")


def _push_all(url: str, headers: dict[str, str], bodies: list[dict[str, Any]]) -> None:
    with requests.Session() as http:
        for body in bodies:
            response = http.post(url + "/api/v1/sync/push", json=body, timeout=300,
                                 headers={**headers, "Idempotency-Key": str(body["batch_id"])})
            statuses = {result["status"] for result in response.json().get("results", [])}
            if response.status_code != 200 or statuses != {"applied"}:
                raise RuntimeError(f"push answered {response.status_code}: {response.text[:300]}")


def _measured(server: Any, eng: Engine, function: Any, *args: Any) -> tuple[float, float, float]:
    """(wall seconds, the workers' CPU seconds, the database's CPU seconds) of one run (the database's
    is 0 on SQLite, which runs in the workers)."""
    shares = CpuShares(cpu_groups(server, eng.server_pid())).start()
    function(*args)
    cores = shares.finish()
    workers = sum(value for name, value in cores.items() if name.startswith("worker "))
    return shares.wall, workers * shares.wall, cores.get("database", 0.0) * shares.wall


def server_for(eng: Engine, label: str) -> tuple[str, dict[str, str], list[str]]:
    url = eng.new_database(label)
    prepare_database(url)
    return url, device_for(url, TEAM).headers, team_sites(url, TEAM)


def collect_url(server_url: str, headers: dict[str, str]) -> str:
    """The server URL a Collect tablet is given: its key, an ordinary device token
    (server/integrations/openrosa/enrolment.py), is in the path."""
    return f"{server_url}/openrosa/v1/key/{headers['Authorization'].removeprefix('Bearer ')}"


def run(eng: Engine, results: Results, *, submissions: int, clients: int, workers: int) -> None:
    name = eng.name

    # 1. OpenRosa, one tablet.
    url, headers, sites = server_for(eng, "openrosa")
    mutations = consultations(submissions, TEAM, sites, seed=21)
    instances = collect_instances(mutations)
    with live_server(url, workers=workers) as server:
        base = collect_url(server.url, headers)
        submit_all(base, collect_instances(consultations(workers * 4, TEAM, sites, seed=22)))  # warm-up
        seconds, cpu, database_cpu = _measured(server, eng, submit_all, base, instances)
    openrosa_rate = submissions / seconds
    verdict = "meets" if openrosa_rate >= GOAL_PER_SECOND else "BELOW"
    results.add(name, "openrosa: one tablet", f"{openrosa_rate:,.0f} sub/s",
                f"{submissions:,} submissions, one multipart POST each, {seconds / submissions * 1000:.1f} ms "
                f"per submission; {verdict} the {GOAL_PER_SECOND}/s goal")
    results.add(name, "openrosa: server CPU per submission", f"{cpu / submissions * 1000:.1f} ms",
                f"all workers; {os.cpu_count()} idle cores would serve at most "
                f"{(os.cpu_count() or 1) * submissions / cpu:,.0f}/s")
    if eng.server_pid():
        results.add(name, "openrosa: database CPU per submission", f"{database_cpu / submissions * 1000:.1f} ms",
                    f"PostgreSQL's backends and background processes; app + database "
                    f"{(cpu + database_cpu) / submissions * 1000:.1f} ms")

    # 2. OpenRosa, several tablets at once.
    clients_rate = 0.0
    if clients > 1:
        clients_rate, busy, by_process = _tablets_at_once(eng, submissions=submissions, clients=clients,
                                                          workers=workers)
        # The server's rate is what many tablets sending at once get (one tablet waits for each
        # answer before it sends the next, so it measures latency as much as the server).
        verdict = "meets" if clients_rate >= GOAL_PER_SECOND else "BELOW"
        results.add(name, f"openrosa: {clients} tablets at once", f"{clients_rate:,.0f} sub/s",
                    f"{clients_rate / openrosa_rate:.2f}x one tablet; {busy:.2f} of {os.cpu_count()} cores busy "
                    f"(server and client); {verdict} the {GOAL_PER_SECOND}/s goal; {by_process}")
        teams_rate, busy, by_process = _tablets_at_once(eng, submissions=submissions, clients=clients,
                                                        workers=workers, teams=TEAMS)
        results.add(name, f"openrosa: {clients} tablets of {len(TEAMS)} teams at once", f"{teams_rate:,.0f} sub/s",
                    f"{teams_rate / openrosa_rate:.2f}x one tablet; {busy:.2f} of {os.cpu_count()} cores busy; "
                    f"{by_process}")

    # 3 and 4. The JSON push of the same records, one per request, then batched.
    for label, size in (("json push: one record per request", 1), ("json push: batched", 0)):
        url, headers, _ = server_for(eng, "json")
        with live_server(url, workers=workers) as server:
            limit = requests.get(server.url + "/api/v1/sync/hello", headers=headers, timeout=30).json()["limits"]
            size = size or int(limit["push_max_mutations"])
            bodies = [push_body(mutations[i:i + size]) for i in range(0, len(mutations), size)]
            _push_all(server.url, headers, [push_body(consultations(workers * 4, TEAM, sites, seed=23))])
            seconds, cpu, _ = _measured(server, eng, _push_all, server.url, headers, bodies)
        rate = submissions / seconds
        results.add(name, label, f"{rate:,.0f} rec/s",
                    f"same {submissions:,} records, {len(bodies)} requests, server CPU {cpu / submissions * 1000:.1f} "
                    f"ms per record; OpenRosa one tablet is {openrosa_rate / rate:.2f}x this")

    # 5 and 6. The minimal durable ingest through the same server, then the same with the rows the
    # guarantees need (validated record, seq, revision, op memory); one tablet, then several.
    for label, server_options in (("minimal ingest", MINIMAL_SERVER), ("minimal + record rows", GUARANTEES_SERVER)):
        url, headers, sites = server_for(eng, "openrosa_minimal")
        with live_server(url, workers=workers, **server_options) as server:
            base = collect_url(server.url, headers)
            submit_all(base, collect_instances(consultations(workers * 4, TEAM, sites, seed=22)))
            seconds, cpu, database_cpu = _measured(server, eng, submit_all, base, instances)
        minimal_rate = submissions / seconds
        database_note = (f", database {database_cpu / submissions * 1000:.1f} ms (app + database "
                         f"{(cpu + database_cpu) / submissions * 1000:.1f} ms)" if eng.server_pid() else "")
        results.add(name, f"openrosa: {label}, one tablet", f"{minimal_rate:,.0f} sub/s",
                    f"server CPU {cpu / submissions * 1000:.1f} ms per submission{database_note}; Fieldsync / this "
                    f"{openrosa_rate / minimal_rate:.2f}")
        if clients > 1:
            rate, busy, _ = _tablets_at_once(eng, submissions=submissions, clients=clients, workers=workers,
                                             server_options=server_options)
            results.add(name, f"openrosa: {label}, {clients} tablets at once", f"{rate:,.0f} sub/s",
                        f"{busy:.2f} of {os.cpu_count()} cores busy; Fieldsync / this {clients_rate / rate:.2f}; "
                        f"the {GOAL_PER_SECOND}/s goal is {GOAL_PER_SECOND / rate:.2f} of it")


def _tablets_at_once(eng: Engine, *, submissions: int, clients: int, workers: int,
                     server_options: dict[str, Any] | None = None,
                     teams: list[str] | None = None) -> tuple[float, float, str]:
    """(submissions/s, cores busy, CPU by process) of `clients` tablets (of `teams` in turn, else all of TEAM)
    sending their share of `submissions` at once to a fresh database."""
    url, _, sites = server_for(eng, "openrosa_clients")
    team_of = [(teams or [TEAM])[n % len(teams or [TEAM])] for n in range(clients)]
    sites_of = {team: team_sites(url, team) for team in set(team_of)}
    tablets = [device_for(url, team).headers for team in team_of]
    shares = [collect_instances(consultations(submissions // clients, team, sites_of[team], seed=30 + n,
                                              ref_prefix=f"{team}-"))
              for n, team in enumerate(team_of)]
    with live_server(url, workers=workers, **(server_options or {})) as server:
        submit_all(collect_url(server.url, tablets[0]),
                   collect_instances(consultations(workers * 4, TEAM, sites, seed=29)))

        def one(n: int) -> None:
            submit_all(collect_url(server.url, tablets[n]), shares[n])

        cpu = CpuShares(cpu_groups(server, eng.server_pid())).start()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(one, range(clients)))
        cores = cpu.finish()
        rate = sum(len(share) for share in shares) / cpu.wall
        return rate, cores["machine"], CpuShares.describe(cores, rate, "submission")
