"""How much of the time SQLite's one write lock is held while tablets submit, and for how long per
submission: the serial part that bounds OpenRosa submissions on SQLite whatever the cores do.

    python -m bench.sqlite_lock [--tablets 1,4] [--submissions 1000] [--workers 2] [--threads 4]

For each number of tablets: a fresh SQLite database, `gunicorn --config gunicorn.conf.py` as
`make run` starts it, with bench/sqlite_lock_trace/sitecustomize.py loaded into its processes (it
timestamps every `BEGIN IMMEDIATE` asked and granted, and the COMMIT or ROLLBACK that ends it);
then the tablets send `--submissions` Collect submissions between them, as bench/openrosa.py does.
Printed: write transactions per submission, the lock's wait and hold per submission, the share of
the wall-clock time it was held, and the rate at which the measured hold alone would saturate it.
The tracing adds a little to each transaction; read the shares, not the rates.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import consultations, device_for, engine, median, percentile
from bench.openrosa import TEAM, collect_instances, collect_url, server_for, submit_all
from tests.e2e.live_server import PROJECT_ROOT, live_server

TRACE_HOOK = Path(__file__).parent / "sqlite_lock_trace"


def _transactions(directory: Path, start: float, end: float) -> list[tuple[float, float, float]]:
    rows = []
    for path in directory.glob("*.txt"):
        for line in path.read_text().splitlines():
            asked, got, released = map(float, line.split())
            if start <= asked <= end:
                rows.append((asked, got, released))
    return rows


def measure(tablets: int, submissions: int, workers: int, threads: int) -> None:
    with engine("sqlite") as eng:
        url, _, sites = server_for(eng, f"lock{tablets}")
        devices = [device_for(url, TEAM).headers for _ in range(tablets)]
        shares = [collect_instances(consultations(submissions // tablets, TEAM, sites, seed=40 + n))
                  for n in range(tablets)]
        trace = Path(tempfile.mkdtemp(prefix="fieldsync-lock-"))
        env = {"FIELDSYNC_LOCK_TRACE": str(trace), "PYTHONPATH": f"{TRACE_HOOK}:{PROJECT_ROOT}"}
        with live_server(url, workers=workers, threads=threads, env=env) as server:
            submit_all(collect_url(server.url, devices[0]),
                       collect_instances(consultations(workers * 4, TEAM, sites, seed=39)))
            start = time.time()
            with ThreadPoolExecutor(max_workers=tablets) as pool:
                list(pool.map(lambda n: submit_all(collect_url(server.url, devices[n]), shares[n]),
                              range(tablets)))
            end = time.time()
        # The server has stopped: every process has written its last lines.
        rows = _transactions(trace, start, end)
    sent = sum(len(share) for share in shares)
    wall = end - start
    holds = [released - got for _, got, released in rows]
    waits = [got - asked for asked, got, _ in rows]
    held = sum(holds) / sent
    print(f"{tablets} tablet(s), {workers} workers x {threads} threads: {sent / wall:,.0f} submissions/s; "
          f"{len(rows) / sent:.2f} write transactions per submission; lock held {sum(holds) / wall:.0%} "
          f"of the time, {held * 1000:.2f} ms per submission (median transaction {median(holds) * 1000:.2f} "
          f"ms, p90 {percentile(holds, 0.9) * 1000:.2f}); waited {sum(waits) / sent * 1000:.2f} ms per "
          f"submission; that hold alone saturates the lock at {1 / held:,.0f} submissions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", default="1,4")
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    for tablets in (int(value) for value in args.tablets.split(",")):
        measure(tablets, args.submissions, args.workers, args.threads)


if __name__ == "__main__":
    main()
