"""Push throughput against a reference ingest, replays, worker memory (and the pull, on the same server).

One fresh database and one `gunicorn --config gunicorn.conf.py` per engine:

1. **push**: `records` varied consultations in batches of the advertised `push_max_mutations`, one
   keep-alive client (requests.Session), as one tablet syncing a backlog. Rate = applied records
   over wall-clock time from the first request to the last response.
2. **reference ingest**: the same records into a second, identically migrated database on the same
   engine by the leanest durable path we could write: per batch one transaction holding one
   `executemany` INSERT into `records` (no validation, no HTTP, no history, no rollups), with the
   application's own durability settings (SQLite WAL + synchronous=FULL; PostgreSQL fsync and
   synchronous_commit on). Fieldsync / reference is the figure to judge: it factors out the
   machine and the disk. Then the **floor with the guarantees' rows** (`floor_ingest`): each record
   also validated with Fieldsync's schema, with its revision and op-memory rows (COPY on
   PostgreSQL): what no implementation of the guarantees can go below here, beside the goal.
3. **replay, op-level**: the same mutations under new batch ids: every item is a `duplicate`
   found through op memory. **replay, batch-level**: the same bodies under the same batch ids:
   the stored response comes back (`Idempotent-Replayed: true`).
4. **concurrent push**: `clients` tablets of four teams, then of one team, push `records` new
   records between them at once, against the same tablets pushing as many one after the other
   (alternating rounds; what batches serialise on shows as the gap to `clients` x). Every figure
   of 1 and 4 says where the CPU went: the client, each gunicorn worker, PostgreSQL.
5. **pull** (bench/pull.py) on the same server, so worker memory covers it too.
6. **memory**: VmHWM of the workers after pushing the largest batches allowed (500 valid
   mutations with every optional text at its maximum; then a body of ~`push_max_bytes` whose 500
   mutations carry junk fields, so all are rejected into quarantine), and VmRSS of every worker
   after warm-up and after the pull (before these two batches).
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench import pull as pull_bench
from bench.common import (
    CpuShares,
    Engine,
    LockWaits,
    Results,
    consultations,
    cpu_groups,
    device_for,
    durable_connection,
    proc_status_kb,
    team_sites,
)
from schemas.records import validate_record
from tests.e2e.live_server import LiveServer, live_server, prepare_database
from tests.factories import push_body

TEAM = "ly-mmt-tripoli"
PULL_TEAM = "ly-chw-tripoli"


def _post(http: requests.Session, server: LiveServer, headers: dict[str, str],
          body: dict[str, Any]) -> requests.Response:
    response = http.post(server.url + "/api/v1/sync/push", json=body,
                         headers={**headers, "Idempotency-Key": str(body["batch_id"])}, timeout=300)
    if response.status_code != 200:
        raise RuntimeError(f"push answered {response.status_code}: {response.text[:300]}\n{server.log_tail()}")
    return response


def _push_all(http: requests.Session, server: LiveServer, headers: dict[str, str], bodies: list[dict[str, Any]],
              expect: str, on_batch: Any = None) -> float:
    """Seconds to push `bodies` one after another; every item must come back `expect`."""
    started = time.perf_counter()
    for body in bodies:
        response = _post(http, server, headers, body)
        statuses = {result["status"] for result in response.json()["results"]}
        if statuses != {expect}:
            raise RuntimeError(f"expected only {expect!r}, got {statuses}")
        if on_batch is not None:
            on_batch()
    return time.perf_counter() - started


def _worker_rss(server: LiveServer) -> dict[int, int]:
    return {pid: proc_status_kb(pid, "VmRSS") for pid in server.worker_pids()}


# Issue 17's goals for one tablet's push (three times the rate measured from outside before it).
PUSH_GOAL = {"sqlite": 6000, "postgresql": 4500}


def _row_of(mutation: dict[str, Any], seq: int, now: str) -> tuple[Any, ...]:
    data = mutation["data"]
    entity_data = {k: v for k, v in data.items() if k not in ("site_id", "team_id", "occurred_on", "recorded_at")}
    return (mutation["id"], mutation["entity"], data["team_id"], data["site_id"], data["occurred_on"],
            data["recorded_at"], data["population_group"], data.get("beneficiary_ref"), json.dumps(entity_data),
            1, seq, "active", False, None, now, now)


_COLUMNS = ("id, entity, team_id, site_id, occurred_on, recorded_at, population_group, beneficiary_ref, data, "
            "version, seq, status, clock_suspect, device_id, received_at, updated_at")


def reference_ingest(database_url: str, batches: list[list[dict[str, Any]]]) -> float:
    """Seconds to insert the batches' records, one transaction and one executemany per batch."""
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    seq = 10_000_000  # far above anything the seed used; the column is unique
    connection = durable_connection(database_url)  # the application's durability settings
    if database_url.startswith("sqlite"):
        sql = f"INSERT INTO records ({_COLUMNS}) VALUES ({', '.join('?' * 16)})"
        started = time.perf_counter()
        for batch in batches:
            rows = [_row_of(m, seq := seq + 1, now) for m in batch]
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(sql, rows)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
        return elapsed
    sql = f"INSERT INTO records ({_COLUMNS}) VALUES ({', '.join(['%s'] * 16)})"
    with connection:
        started = time.perf_counter()
        for batch in batches:
            rows = [_row_of(m, seq := seq + 1, now) for m in batch]
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)
            connection.commit()
        return time.perf_counter() - started


_REVISION_COLUMNS = ("record_id", "version", "kind", "changed", "device_id", "op_id", "created_at")
_OP_COLUMNS = ("op_id", "batch_id", "device_id", "record_id", "outcome", "created_at")


def floor_ingest(database_url: str, batches: list[list[dict[str, Any]]]) -> float:
    """Seconds to write the rows Fieldsync's guarantees cannot do without, per batch in one
    transaction: each record validated with Fieldsync's marshmallow schema (one reused instance),
    then its `records` row, its first revision and its op-memory row; executemany on SQLite, COPY on
    PostgreSQL (the fastest bulk path psycopg has). No HTTP, JSON body, seq logic, conflicts or
    rollups: a floor for what a push of new records costs on this machine, not an implementation."""
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    today = datetime.date.today()
    seq = 20_000_000
    sqlite = database_url.startswith("sqlite")

    def rows_of(batch: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        nonlocal seq
        batch_id = str(uuid.uuid4())
        records, revisions, ops = [], [], []
        for mutation in batch:
            data, errors = validate_record(mutation["entity"], mutation["data"], today)
            if errors:
                raise RuntimeError(f"benchmark record invalid: {errors}")
            records.append(_row_of(mutation, seq := seq + 1, now))
            revisions.append((mutation["id"], 1, "create", json.dumps(data), None, mutation["op_id"], now))
            ops.append((mutation["op_id"], batch_id, None, mutation["id"], '{"status": "applied", "version": 1}', now))
        return [("records", tuple(_COLUMNS.split(", ")), records),
                ("record_revisions", _REVISION_COLUMNS, revisions), ("applied_ops", _OP_COLUMNS, ops)]

    connection = durable_connection(database_url)
    if sqlite:
        started = time.perf_counter()
        for batch in batches:
            tables = rows_of(batch)
            connection.execute("BEGIN IMMEDIATE")
            for table, columns, rows in tables:
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
        return elapsed
    with connection:
        started = time.perf_counter()
        for batch in batches:
            tables = rows_of(batch)
            with connection.cursor() as cursor:
                for table, columns, rows in tables:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            connection.commit()
        return time.perf_counter() - started


def _largest_valid_batch(size: int, team_id: str, sites: list[str]) -> dict[str, Any]:
    mutations = consultations(size, team_id, sites, seed=int(time.time()))
    for m in mutations:
        m["data"]["beneficiary_ref"] = uuid.uuid4().hex * 2  # 64 characters, the maximum
        m["reason"] = "r" * 500  # the longest reason accepted
    return push_body(mutations)


def _largest_body(size: int, max_bytes: int) -> dict[str, Any]:
    """~max_bytes of JSON in `size` mutations, each with an unknown field: all rejected, all quarantined."""
    padding = "x" * int(max_bytes * 0.95 / size)
    mutations = [{"op_id": str(uuid.uuid4()), "kind": "create", "entity": "consultation", "id": str(uuid.uuid4()),
                  "data": {"junk": padding}} for _ in range(size)]
    return push_body(mutations)


# Rounds of the four-teams figure: which worker each tablet's connection lands on varies run to run.
CONCURRENT_ROUNDS = 3

# Four teams of four cities, each with its own site: tablets that share no rollup cell or person.
TEAMS = ["ly-mmt-tripoli", "ly-mmt-benghazi", "ly-mmt-misrata", "ly-mmt-sabha"]


def _at_once(server: LiveServer, url: str, *, team_of: list[str], records: int, size: int, seed: int,
             cpu: dict[str, Any], serial: bool = False) -> tuple[float, dict[str, float], str]:
    """One tablet per entry of `team_of` pushes its share of `records` new records, all at once (or,
    `serial`, one tablet after the other: the same work without the overlap), each on its own new
    connection: (records/s, cores by process, lock waits sampled meanwhile)."""
    tablets = [device_for(url, team) for team in team_of]
    sites = {team: team_sites(url, team) for team in set(team_of)}
    share = records // len(team_of)
    # Each team its own people (the same ref in one country is the same person, whose facts two
    # teams' batches would rightly serialise on) and its own seeds (new ops in every run).
    bodies = [[push_body(chunk) for chunk in _batches(consultations(share, team, sites[team], seed=seed + n,
                                                                    ref_prefix=f"{team}-"), size)]
              for n, team in enumerate(team_of)]

    def one(n: int) -> None:
        with requests.Session() as http:
            _push_all(http, server, tablets[n].headers, bodies[n], "applied")

    waits = LockWaits(url)
    waits.start()
    shares = CpuShares(cpu).start()
    if serial:
        for n in range(len(team_of)):
            one(n)
    else:
        with ThreadPoolExecutor(max_workers=len(team_of)) as pool:
            list(pool.map(one, range(len(team_of))))
    cores = shares.finish()
    return share * len(team_of) / shares.wall, cores, waits.finish()


def _concurrent(server: LiveServer, url: str, results: Results, name: str, *, records: int, clients: int,
                size: int, teams: list[str], cpu: dict[str, Any], rounds: int) -> None:
    """`clients` tablets of `teams` (in turn) push `records` new records between them at once,
    against the same tablets pushing the same kind of records one after the other (one tablet at a
    time: the same work without the overlap), alternately for `rounds` rounds (the figure is the
    median of the rounds' ratios): the workers overlap what they can, and whatever serialises batches
    (SQLite's single writer; on PostgreSQL rows two batches share: a team's rollup cells, a person's
    facts) shows up as the gap to `clients` x one tablet, and in the lock waits sampled meanwhile.
    Each tablet's connection stays with the gunicorn worker that accepted it, and a worker's Python
    runs on one core at a time (one GIL): each round's CPU by worker shows how the tablets fell."""
    team_of = [teams[n % len(teams)] for n in range(clients)]
    label = "one team" if len(set(team_of)) == 1 else f"{len(set(team_of))} teams"
    ratios, lines = [], []
    for number in range(rounds):
        seed = 100 + 10 * len(teams) + 1000 * number
        one_rate, _, _ = _at_once(server, url, team_of=team_of, records=records, size=size, seed=seed + 500,
                                  cpu=cpu, serial=True)
        rate, cores, waits = _at_once(server, url, team_of=team_of, records=records, size=size, seed=seed, cpu=cpu)
        ratios.append(rate / one_rate)
        lines.append((rate / one_rate, rate, one_rate, cores, waits))
    median = statistics.median(ratios)
    ratio, rate, one_rate, cores, waits = min(lines, key=lambda line: abs(line[0] - median))
    results.add(name, f"push: {clients} tablets of {label} at once", f"{rate:,.0f} rec/s",
                f"{records:,} records a round; median of {rounds} rounds {median:.2f}x one tablet "
                f"({', '.join(f'{line[0]:.2f}x' for line in lines)}); in the median round one at a time "
                f"{one_rate:,.0f} rec/s, {cores['machine']:.2f} of {os.cpu_count()} cores busy; {waits}")
    for number, (ratio, rate, _, cores, _) in enumerate(lines, 1):
        results.add(name, f"push: CPU by process, {clients} tablets of {label}, round {number}",
                    f"{cores['machine']:.2f} cores", f"{ratio:.2f}x; " + CpuShares.describe(cores, rate))


def _batches(mutations: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [mutations[i:i + size] for i in range(0, len(mutations), size)]


def run(eng: Engine, results: Results, *, records: int, pull_records: int, workers: int, clients: int) -> None:
    name = eng.name
    url = eng.new_database("push")
    prepare_database(url)
    reference_url = eng.new_database("reference")
    prepare_database(reference_url)
    tablet = device_for(url, TEAM)
    sites = team_sites(url, TEAM)
    with live_server(url, workers=workers) as server, requests.Session() as http:
        limits = http.get(server.url + "/api/v1/sync/hello", headers=tablet.headers, timeout=30).json()["limits"]
        size = int(limits["push_max_mutations"])
        # Warm-up on separate connections, so every worker has imported, connected and cached.
        for n in range(workers * 2):
            with requests.Session() as warm:
                _post(warm, server, tablet.headers, push_body(consultations(20, TEAM, sites, seed=1000 + n)))
        rss_start = _worker_rss(server)

        mutations = consultations(records, TEAM, sites)
        batches = _batches(mutations, size)
        bodies = [push_body(batch) for batch in batches]
        peak_rss: dict[int, int] = {}
        quarter: dict[int, int] = {}
        done = [0]

        def sample() -> None:
            done[0] += 1
            rss = _worker_rss(server)
            for pid, kb in rss.items():
                peak_rss[pid] = max(peak_rss.get(pid, 0), kb)
            if done[0] == max(1, len(bodies) // 4):
                quarter.update(rss)  # allocators settle early; growth after this is what a leak looks like

        cpu = cpu_groups(server, eng.server_pid())
        shares = CpuShares(cpu).start()
        push_s = _push_all(http, server, tablet.headers, bodies, "applied", sample)
        one_tablet = shares.finish()
        one_tablet_cores = one_tablet["machine"]
        rss_pushed = _worker_rss(server)
        push_rate = records / push_s
        ref_s = reference_ingest(reference_url, batches)
        ref_rate = records / ref_s
        results.add(name, "push: Fieldsync", f"{push_rate:,.0f} rec/s",
                    f"{records:,} consultations, {len(bodies)} batches of {size}, "
                    f"{push_s / len(bodies) * 1000:.0f} ms/batch")
        cores = os.cpu_count() or 1
        # What one tablet already keeps busy bounds what more tablets can add on this machine.
        results.add(name, "push: cores busy, one tablet", f"{one_tablet_cores:.2f} of {cores}",
                    f"server, database and client; more tablets can reach at most "
                    f"{cores / one_tablet_cores:.2f}x one tablet here")
        results.add(name, "push: CPU by process, one tablet", f"{one_tablet_cores:.2f} cores",
                    CpuShares.describe(one_tablet, push_rate))
        results.add(name, "push: reference ingest", f"{ref_rate:,.0f} rec/s",
                    "one executemany per batch, one transaction, into records")
        results.add(name, "push: Fieldsync / reference", f"{push_rate / ref_rate:.3f}", "goal >= 0.5")
        floor_url = eng.new_database("floor")
        prepare_database(floor_url)
        floor_rate = records / floor_ingest(floor_url, batches)
        goal = PUSH_GOAL[name]
        results.add(name, "push: floor with the guarantees' rows", f"{floor_rate:,.0f} rec/s",
                    f"validated records + revisions + op memory, no HTTP or rollups; Fieldsync / this "
                    f"{push_rate / floor_rate:.2f}; the {goal:,}/s goal is {goal / floor_rate:.2f} of it")

        op_bodies = [push_body(batch) for batch in batches]
        op_s = _push_all(http, server, tablet.headers, op_bodies, "duplicate")
        results.add(name, "replay, op-level (new batch ids)", f"{records / op_s:,.0f} rec/s",
                    f"{push_s / op_s:.1f}x the first push")
        started = time.perf_counter()
        for body in bodies:
            response = _post(http, server, tablet.headers, body)
            if response.headers.get("Idempotent-Replayed") != "true":
                raise RuntimeError("batch replay was not replayed")
        batch_s = time.perf_counter() - started
        results.add(name, "replay, batch-level (same batch ids)", f"{records / batch_s:,.0f} rec/s",
                    f"{push_s / batch_s:.1f}x the first push")

        if clients > 1:
            _concurrent(server, url, results, name, records=records, clients=clients, size=size,
                        teams=TEAMS, cpu=cpu, rounds=CONCURRENT_ROUNDS)
            _concurrent(server, url, results, name, records=records, clients=clients, size=size,
                        teams=[TEAM], cpu=cpu, rounds=1)

        pull_bench.run(url, server, results, name, team_id=PULL_TEAM, records=pull_records)

        # Before the largest batches: those raise the high-water mark on purpose.
        rss_end = _worker_rss(server)
        valid = _largest_valid_batch(size, TEAM, sites)
        _push_all(http, server, tablet.headers, [valid], "applied")
        hwm_valid = max(proc_status_kb(pid, "VmHWM") for pid in server.worker_pids())
        junk = _largest_body(size, int(limits["push_max_bytes"]))
        junk_bytes = len(json.dumps(junk))
        _push_all(http, server, tablet.headers, [junk], "rejected")
        hwm_junk = max(proc_status_kb(pid, "VmHWM") for pid in server.worker_pids())
        results.add(name, "memory: worker peak RSS, largest valid batch", f"{hwm_valid / 1024:.0f} MB",
                    f"VmHWM, {size} mutations, {len(json.dumps(valid)) / 1024:.0f} KB body")
        results.add(name, "memory: worker peak RSS, largest body", f"{hwm_junk / 1024:.0f} MB",
                    f"VmHWM, {junk_bytes / 1e6:.1f} MB body, {size} rejected into quarantine")
        growth = {pid: rss_end.get(pid, 0) - kb for pid, kb in rss_start.items()}
        during_push = {pid: peak_rss.get(pid, 0) - kb for pid, kb in rss_start.items()}
        results.add(name, "memory: worker RSS start -> end", " / ".join(
            f"{rss_start[pid] / 1024:.0f}->{rss_end.get(pid, 0) / 1024:.0f} MB" for pid in sorted(rss_start)),
            f"max growth {max(growth.values()) / 1024:.1f} MB from warm-up to after the pull; "
            f"{max(during_push.values()) / 1024:.1f} MB during the {records:,}-record push, of which "
            f"{max(rss_pushed.get(pid, 0) - kb for pid, kb in quarter.items()) / 1024:.1f} MB in its last 3/4")
