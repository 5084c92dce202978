"""`make load`: tablets, coordinators and the public website at once against the real server.

    python -m bench.load [--engine sqlite,postgresql] [--tablets 8] [--coordinators 2] [--readers 4]
                         [--seconds 60] [--records 10000] [--workers 2]

Per engine: a fresh database (bench.common.engine; PostgreSQL is a durable throwaway cluster),
migrated and seeded, with `--records` synthetic records over 2016-2018 (as bench/aggregates.py
loads them) so the coordinators' and the website's queries read a programme with history; one
device per tablet spread over the four mobile medical teams, one coordinator token per
coordinator; then `gunicorn --config gunicorn.conf.py` (tests.e2e.live_server) and locust,
headless, for `--seconds` with bench/load/locustfile.py. One table at the end: per endpoint
requests, failures, p50, p95 and rate; status codes as the server's access log counted them;
the machine's load average at the start and the end of each run.

Exits 1 if the server answered any request with a 5xx or dropped it unanswered (or locust could
not run).
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench.aggregates import load as bulk_load
from bench.common import coordinator_for, device_for, engine, process_tree_cpu_s, team_sites
from config import normalise_database_url
from server.persistence.migrations_state import PROJECT_ROOT
from tests.e2e.live_server import LiveServer, live_server, prepare_database

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Tablets are dealt round-robin over these: several tablets per team, so each pull also carries
# its colleagues' pushes, as in the field.
TEAMS = ["ly-mmt-tripoli", "ly-mmt-benghazi", "ly-mmt-misrata", "ly-mmt-sabha"]
COUNTRY = "LY"
BULK_YEARS = [2016, 2017, 2018]  # what bench.aggregates' synthetic stream covers


@dataclass
class Accounts:
    """What the locustfile reads (LOAD_ACCOUNTS): a JSON file, since locust runs in its own process."""

    tablets: list[dict[str, Any]] = field(default_factory=list)
    coordinators: list[dict[str, Any]] = field(default_factory=list)
    readers: int = 0
    years: list[int] = field(default_factory=list)
    country: str = COUNTRY


@dataclass(frozen=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    p50: float
    p95: float
    rate: float


@dataclass
class Run:
    engine: str
    endpoints: list[Endpoint]
    failures: list[tuple[str, str, int]]  # (endpoint, error, occurrences)
    statuses: Counter[tuple[str, int]]  # (route, status) from the access log
    load_start: float
    load_end: float
    seconds: int
    setup_s: float
    app_cpu_s: float  # gunicorn master and workers during the run (on SQLite this includes the database)
    db_cpu_s: float | None  # the PostgreSQL server's processes; None on SQLite
    client_cpu_s: float  # locust itself, competing with the server for the same cores

    @property
    def server_errors(self) -> int:
        """5xx answers in the access log, plus what locust saw as a 5xx or as no answer at all (a
        worker killed mid-request leaves no access-log line)."""
        logged = sum(count for (_, status), count in self.statuses.items() if status >= 500)
        seen = sum(count for _, error, count in self.failures if re.search(r"HTTP 5\d\d:", error))
        unanswered = sum(count for _, error, count in self.failures if "HTTP 0:" in error)
        return max(logged, seen) + unanswered  # a 5xx is in both the log and locust's failures: once


def accounts_for(database_url: str, *, tablets: int, coordinators: int, readers: int) -> Accounts:
    sites = {team: team_sites(database_url, team) for team in TEAMS}
    accounts = Accounts(readers=readers, years=[*BULK_YEARS, date.today().year - 1, date.today().year])
    for n in range(tablets):
        team = TEAMS[n % len(TEAMS)]
        creds = device_for(database_url, team)
        accounts.tablets.append({"headers": creds.headers, "team_id": team, "sites": sites[team]})
    accounts.coordinators = [{"headers": coordinator_for(database_url)} for _ in range(coordinators)]
    return accounts


def run_locust(server: LiveServer, accounts_path: Path, out: Path, *, users: int, seconds: int) -> dict[str, Any]:
    """locust headless in its own process (gevent patches everything it imports, which the database
    setup here must not be); its figures come back as the JSON the locustfile writes at the end."""
    stats_path = out / "stats.json"
    log = out / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", server.url,
               # Users arrive over ~5 s, not in one burst: tablets do not all wake at the same instant.
               "--users", str(users), "--spawn-rate", f"{max(users / 5, 1):.2f}", "--run-time", f"{seconds}s",
               # A sync in flight when time is up finishes, so its requests count and none is cut off.
               "--stop-timeout", "30", "--only-summary", "--loglevel", "WARNING"]
    environment = {**os.environ, "LOAD_ACCOUNTS": str(accounts_path), "LOAD_STATS": str(stats_path),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "wb") as sink:
        completed = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, stdout=sink,
                                   stderr=subprocess.STDOUT, timeout=seconds + 120, check=False)
    # 1 is locust's "some requests failed": the table says which. Anything else: it did not run.
    if completed.returncode not in (0, 1) or not stats_path.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"locust exited with {completed.returncode}:\n{tail}")
    return json.loads(stats_path.read_text())


def read_stats(stats: dict[str, Any]) -> tuple[list[Endpoint], list[tuple[str, str, int]]]:
    endpoints = [Endpoint(**e) for e in stats["endpoints"]]
    endpoints.append(Endpoint(**{**stats["total"], "name": "all"}))
    failures = [(f["name"], f["error"], f["occurrences"]) for f in stats["failures"]]
    failures += [("exception in a task", e["error"], e["occurrences"]) for e in stats.get("exceptions", [])]
    return endpoints, failures


_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]+)[^"]*" (?P<status>\d{3}) ')
# Ids in paths become placeholders, so statuses group by route as the locust names do.
_ROUTES = [(re.compile(r"^/public/v1/countries/[^/]+/impact$"), "/public/v1/countries/{code}/impact")]


def access_statuses(server: LiveServer) -> Counter[tuple[str, int]]:
    """(method and route, status) counts from gunicorn's access log: what the server answered,
    whatever the client made of it (a 5xx that locust never saw would still show here)."""
    counts: Counter[tuple[str, int]] = Counter()
    for line in server.log_path.read_text(errors="replace").splitlines():
        match = _ACCESS.search(line)
        if not match or match["path"] in ("/readyz", "/healthz"):
            continue
        path = match["path"]
        for pattern, route in _ROUTES:
            if pattern.match(path):
                path = route
        counts[(f"{match['method']} {path}", int(match["status"]))] += 1
    return counts


def _say(started: float, what: str) -> None:
    print(f"  {time.perf_counter() - started:5.1f} s  {what}", flush=True)


def run_engine(name: str, *, tablets: int, coordinators: int, readers: int, seconds: int, records: int,
               workers: int, database_url: str | None = None) -> Run:
    """One run; `database_url` (an empty database, say on another machine) instead of a fresh local one."""
    started = time.perf_counter()
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="fieldsync-load-"))
        if database_url:
            url, postmaster = normalise_database_url(database_url), None  # its CPU is not ours to read
        else:
            eng = stack.enter_context(engine(name))
            url, postmaster = eng.new_database("load"), eng.server_pid()
        prepare_database(url)
        _say(started, "database migrated and seeded")
        if records:
            bulk_load(url, name, 0, records, records)
            _say(started, f"{records:,} records loaded")
        accounts = accounts_for(url, tablets=tablets, coordinators=coordinators, readers=readers)
        accounts_path = Path(tmp) / "accounts.json"
        accounts_path.write_text(json.dumps(asdict(accounts)))
        _say(started, f"{tablets} devices and {coordinators} coordinators")
        with live_server(url, workers=workers) as server:
            setup_s = time.perf_counter() - started
            _say(started, f"server ready at {server.url}; locust for {seconds} s")
            load_start = os.getloadavg()[0]
            app_cpu = process_tree_cpu_s(server.pid)
            db_cpu = process_tree_cpu_s(postmaster) if postmaster else 0.0
            client = resource.getrusage(resource.RUSAGE_CHILDREN)
            stats = run_locust(server, accounts_path, Path(tmp), users=tablets + coordinators + readers,
                               seconds=seconds)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            client_cpu = after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime
            app_cpu = process_tree_cpu_s(server.pid) - app_cpu
            db_cpu = process_tree_cpu_s(postmaster) - db_cpu if postmaster else 0.0
            load_end = os.getloadavg()[0]
            statuses = access_statuses(server)
            _say(started, "locust done")
        endpoints, failures = read_stats(stats)
    return Run(name, endpoints, failures, statuses, load_start, load_end, seconds, setup_s, app_cpu,
               db_cpu if postmaster else None, client_cpu)


def table(runs: list[Run]) -> str:
    headers = ("engine", "endpoint", "requests", "failures", "p50 ms", "p95 ms", "req/s")
    cells = [headers]
    for run in runs:
        for e in run.endpoints:
            cells.append((run.engine, e.name, f"{e.requests:,}", f"{e.failures:,}", f"{e.p50:.0f}", f"{e.p95:.0f}",
                          f"{e.rate:.1f}"))
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right = {2, 3, 4, 5, 6}
    line = "| " + " | ".join(f"{{:{'>' if i in right else '<'}{w}}}" for i, w in enumerate(widths)) + " |"
    out = [line.format(*headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line.format(*row) for row in cells[1:]]
    return "\n".join(out)


def report(runs: list[Run], *, workers: int) -> str:
    out = [table(runs), ""]
    for run in runs:
        total = next((e for e in run.endpoints if e.name == "all"), None)
        out.append(f"[{run.engine}] {run.seconds} s, {total.requests if total else 0:,} requests, "
                   f"{total.failures if total else 0:,} failed, {run.server_errors} answered 5xx or not at all; "
                   f"load average {run.load_start:.1f} at the start, {run.load_end:.1f} at the end; "
                   f"setup {run.setup_s:.0f} s")
        requests = total.requests if total and total.requests else 1
        cpu = [f"app servers {run.app_cpu_s:.0f} s ({run.app_cpu_s / run.seconds:.0%} of a core, "
               f"{run.app_cpu_s / requests * 1000:.0f} ms per request)"]
        if run.db_cpu_s is not None:
            cpu.append(f"PostgreSQL {run.db_cpu_s:.0f} s ({run.db_cpu_s / run.seconds:.0%} of a core, "
                       f"{run.db_cpu_s / requests * 1000:.0f} ms per request)")
        cpu.append(f"locust {run.client_cpu_s:.0f} s")
        out.append("    CPU: " + "; ".join(cpu))
        for endpoint, error, count in run.failures:
            out.append(f"    failure x{count}: {endpoint}: {error[:300]}")
        odd = sorted((route, status, n) for (route, status), n in run.statuses.items() if status not in (200, 304))
        for route, status, count in odd:
            out.append(f"    server answered {status} x{count}: {route}")
        replies = sum(n for (route, status), n in run.statuses.items() if "impact" in route)
        not_modified = sum(n for (route, status), n in run.statuses.items() if "impact" in route and status == 304)
        if replies:
            out.append(f"    public impact: {not_modified / replies:.0%} of {replies:,} answered 304 Not Modified")
    out.append(f"\n{os.cpu_count()} CPUs ({platform.python_implementation()} {platform.python_version()}), "
               f"{workers} gunicorn workers; locust runs on the same machine and competes with them. "
               "locust rounds percentiles above 100 ms to 2 significant digits.")
    return "\n".join(out)
