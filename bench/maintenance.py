"""`flask --app server rollups verify` at a volume: wall time and peak memory, as an operator runs it.

The database is filled by `bench.aggregates.load` (synthetic records over 2016-2018), then verify
runs as its own process; its peak RSS comes from the kernel (`wait4`'s ru_maxrss), so it counts
everything the command held, SQLAlchemy and the driver included. The goal is <= 300 MB at 1,000,000
records (`python -m bench --only maintenance --maintenance 1000000`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.aggregates import load
from bench.common import Engine, Results
from server.persistence.migrations_state import PROJECT_ROOT
from tests.e2e.live_server import prepare_database


def run_verify(database_url: str) -> tuple[int, float, int]:
    """(exit code, seconds, peak RSS in MB) of one `rollups verify` process."""
    env = {**os.environ, "DATABASE_URL": database_url}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "rollups", "verify"],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss // 1024


def run(eng: Engine, results: Results, *, records: int) -> None:
    url = eng.new_database("maintenance")
    prepare_database(url)
    load(url, eng.name, 0, records, records)
    code, seconds, peak_mb = run_verify(url)
    results.add(eng.name, f"rollups verify at {records:,} records", f"{seconds:.1f} s, {peak_mb} MB peak",
                "exit 0 (rollups match)" if code == 0 else f"exit {code}: DIFFERENCES")
