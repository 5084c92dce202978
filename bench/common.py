"""What every benchmark shares: fresh databases per engine, a real server, tablets, timing, /proc.

A benchmark gets an `Engine`: `new_database(name)` returns the URL of a fresh, empty database on
that engine. SQLite databases are files under one temporary directory; PostgreSQL databases live
in one throwaway cluster started with `durable=True` (fsync and synchronous_commit on, as in
production; the test clusters turn them off), unless BENCH_DATABASE_URL names a server whose
role may create databases.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from server.extensions import SQLITE_SYNCHRONOUS, db
from tests.e2e.live_server import direct_app
from tests.factories import make_device, make_token, make_user
from tests.pg_cluster import Cluster, start_cluster


@dataclass
class Engine:
    name: str  # "sqlite" | "postgresql"
    _tmp: Path | None = None
    _cluster: Cluster | None = None
    _count: int = 0

    def new_database(self, label: str) -> str:
        self._count += 1
        if self.name == "sqlite":
            assert self._tmp is not None
            return f"sqlite:///{self._tmp}/{label}-{self._count}.db"
        assert self._cluster is not None
        return self._cluster.create_database(f"bench_{label}_{self._count}")

    def server_pid(self) -> int | None:
        """The PostgreSQL postmaster's pid, for CPU accounting (None on SQLite, which runs in the app)."""
        if self._cluster is None:
            return None
        return int((self._cluster.data_dir / "postmaster.pid").read_text().split()[0])


@contextmanager
def engine(name: str) -> Iterator[Engine]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fieldsync-bench-") as tmp:
            yield Engine(name, _tmp=Path(tmp))
        return
    if name != "postgresql":
        raise ValueError(f"unknown engine {name!r}")
    # Durable: a benchmark with fsync off would measure a database nobody runs.
    cluster = start_cluster(durable=True)
    try:
        yield Engine(name, _cluster=cluster)
    finally:
        cluster.stop()


# --- accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    headers: dict[str, str]
    team_id: str


def device_for(database_url: str, team_id: str) -> Credentials:
    """A committed, active device of `team_id`."""
    app = direct_app(database_url)
    with app.app_context():
        enrolled = make_device(db.session, team_id=team_id)
        creds = Credentials(dict(enrolled.headers), team_id)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return creds


def coordinator_for(database_url: str) -> dict[str, str]:
    """Bearer headers of a committed coordinator of LY."""
    app = direct_app(database_url)
    with app.app_context():
        token = make_token(db.session, make_user(db.session, role="coordinator", countries=("LY",)))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return {"Authorization": f"Bearer {token}"}


def team_sites(database_url: str, team_id: str) -> list[str]:
    from server.models import Team

    app = direct_app(database_url)
    with app.app_context():
        team = db.session.get(Team, team_id)
        assert team is not None
        sites = sorted(team.site_ids)
        db.session.remove()
        db.engine.dispose()
    return sites


# --- synthetic consultations, as a tablet sends them --------------------------------------------

GROUPS = ["refugee", "asylum_seeker", "migrant", "idp", "returnee", "host"]
SEXES = ["f", "m", "x"]
BANDS = ["0-4", "5-17", "18-59", "60+"]
SERVICES = ["general", "mhpss", "srh", "gbv", "ncd", "trauma", "vaccination"]


def consultations(count: int, team_id: str, sites: list[str], *, seed: int = 8,
                  ref_prefix: str = "ben-") -> list[dict[str, Any]]:
    """`count` create mutations of varied consultations over the last year.

    Varied on purpose: identical records would all land in one rollup cell, which flatters the
    rollup cost. 70% carry a beneficiary_ref drawn from count/4 people, so distinct-people facts
    are maintained as in the field.
    """
    rng = random.Random(seed)
    today = date.today()
    people = max(count // 4, 1)
    mutations = []
    for _ in range(count):
        occurred = today - timedelta(days=1 + rng.randrange(365))
        data: dict[str, Any] = {
            "site_id": rng.choice(sites), "team_id": team_id, "occurred_on": occurred.isoformat(),
            "recorded_at": f"{occurred.isoformat()}T{rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:00Z",
            "population_group": rng.choice(GROUPS), "sex": rng.choice(SEXES), "age_band": rng.choice(BANDS),
            "visit": rng.choice(["new", "follow_up"]), "service": rng.choice(SERVICES),
            "referral": rng.random() < 0.1,
        }
        if rng.random() < 0.7:
            data["beneficiary_ref"] = f"{ref_prefix}{rng.randrange(people):06d}"
        mutations.append({"op_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "kind": "create",
                          "entity": "consultation", "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          "data": data})
    return mutations


# --- measurements -------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def proc_status_kb(pid: int, key: str) -> int:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in kB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, its living descendants and the children they reaped
    (Linux /proc; 0 for a process that is gone). A difference of two readings is what the tree spent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the ")" that ends the name.
    own = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_tree_cpu_s(int(child)) for child in children)


def process_own_cpu_s() -> float:
    """User + system CPU seconds of this process alone (all its threads, none of its children: the
    servers a benchmark starts are its children)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all the machine's cores since boot (Linux /proc/stat)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def cores_busy_since(start: tuple[int, int]) -> float:
    """How many of the machine's cores were busy on average since `start` (`machine_cpu_ticks()`):
    the server, its database and the benchmark's own client together, as they share the cores."""
    busy, total = machine_cpu_ticks()
    return (os.cpu_count() or 1) * (busy - start[0]) / max(1, total - start[1])


class CpuShares:
    """Where a run's CPU went: cores busy per process group between `start()` and `finish()`, the
    groups given as functions reading their CPU seconds (`process_tree_cpu_s` of a pid), with the
    machine's remainder as "other". Told beside a rate, it says what more tablets would compete for."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}
        self._machine: tuple[int, int] = (0, 0)
        self._started = 0.0
        self.wall = 0.0  # seconds from start() to finish()

    def start(self) -> CpuShares:
        self._start = {name: read() for name, read in self.groups.items()}
        self._machine = machine_cpu_ticks()
        self._started = time.perf_counter()
        return self

    def finish(self) -> dict[str, float]:
        """Cores busy (CPU seconds per wall second) of each group, "other" and "machine"."""
        wall = self.wall = time.perf_counter() - self._started
        cores = {name: (read() - self._start[name]) / wall for name, read in self.groups.items()}
        machine = cores_busy_since(self._machine)
        cores["other"] = max(0.0, machine - sum(cores.values()))
        cores["machine"] = machine
        return cores

    @staticmethod
    def describe(cores: dict[str, float], per: float | None = None, unit: str = "record") -> str:
        """"client 0.41, server 1.02 (workers 0.61/0.41), database 0.48, other 0.08 cores" (and CPU ms
        per `unit` when `per` units were done per second). Each gunicorn worker is one process, one GIL:
        a worker near 1.00 is bound however many threads it has."""
        workers = [value for name, value in cores.items() if name.startswith("worker ")]
        summary = {name: value for name, value in cores.items() if not name.startswith("worker ") and name != "machine"}
        if workers:
            summary = {"client": summary.get("client", 0.0), "server": sum(workers),
                       **{name: value for name, value in summary.items() if name != "client"}}
        parts = [f"{name} {value:.2f}" + (f" (workers {'/'.join(f'{w:.2f}' for w in sorted(workers, reverse=True))})"
                                           if name == "server" and workers else "")
                 for name, value in summary.items()]
        text = ", ".join(parts) + " cores"
        if per:
            text += " (" + ", ".join(f"{name} {value / per * 1000:.2f}" for name, value in summary.items()) + \
                f" ms CPU per {unit})"
        return text


def cpu_groups(server: Any, eng_server_pid: int | None) -> dict[str, Any]:
    """The benchmark's client (this process, all its threads), each gunicorn worker, and
    the PostgreSQL cluster (postmaster and backends; absent on SQLite, which runs in the workers)."""
    groups: dict[str, Any] = {"client": process_own_cpu_s}
    for number, pid in enumerate(server.worker_pids(), 1):
        groups[f"worker {number}"] = lambda pid=pid: process_tree_cpu_s(pid)
    if eng_server_pid is not None:
        groups["database"] = lambda: process_tree_cpu_s(eng_server_pid)
    return groups


@dataclass
class Row:
    """One line of the printed table."""

    engine: str
    benchmark: str
    value: str
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, engine_name: str, benchmark: str, value: str, note: str = "") -> None:
        self.rows.append(Row(engine_name, benchmark, value, note))
        print(f"  [{engine_name}] {benchmark}: {value}  {note}", flush=True)

    def table(self) -> str:
        headers = ("engine", "benchmark", "result", "note")
        cells = [headers, *((r.engine, r.benchmark, r.value, r.note) for r in self.rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(4)]
        line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
        out = [line.format(*headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line.format(*row) for row in cells[1:]]
        return "\n".join(out)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def durable_connection(database_url: str) -> Any:
    """A DB-API connection beside the application's, paying the same durability (server/extensions.py):
    SQLite in autocommit mode (the caller writes `BEGIN IMMEDIATE` and `COMMIT`), WAL,
    synchronous as the app sets it (FULL) and a 60 s busy timeout; PostgreSQL as the cluster is configured (fsync and
    synchronous_commit on). For the reference implementations the benchmarks judge Fieldsync by."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        connection.execute("PRAGMA busy_timeout=60000")
        return connection
    return psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))


class LockWaits(threading.Thread):
    """Samples `pg_stat_activity` every 50 ms while it runs: how many backends of the database wait
    for a lock, by wait event (`transactionid`: a row another transaction changed; `tuple`;
    `advisory`: the rollups' per-person locks or a batch's; `relation`...). A no-op on SQLite, whose
    one writer waits in its busy handler, not in a lock table."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.url = database_url
        self.samples = 0
        self.waiting: dict[str, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        if not self.url.startswith("postgresql"):
            return
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as pg:
            while not self._done.is_set():
                for (event,) in pg.execute("SELECT wait_event FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                           "AND datname = current_database()"):
                    self.waiting[event] = self.waiting.get(event, 0) + 1
                self.samples += 1
                time.sleep(0.05)

    def finish(self) -> str:
        self._done.set()
        self.join()
        if not self.samples:
            return "no lock sampling (SQLite)"
        mean = sum(self.waiting.values()) / self.samples
        detail = ", ".join(f"{event} {count / self.samples:.2f}" for event, count in sorted(self.waiting.items()))
        return f"backends waiting on a lock, mean of {self.samples} samples: {mean:.2f}" + (f" ({detail})"
                                                                                          if detail else "")
