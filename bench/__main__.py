"""`make bench` / `python -m bench`: every benchmark on SQLite and PostgreSQL, one table at the end.

    python -m bench [--engines sqlite,postgresql] [--only push,aggregates,openrosa] [--records 20000]
                    [--clients 4] [--pull 50000] [--small 10000] [--large 100000] [--requests 50]
                    [--submissions 2000] [--workers 2]

- push (bench/push.py): push throughput vs a reference ingest, op-level and batch-level replay,
  several tablets at once, worker memory; the pull (bench/pull.py) runs on the same server.
- returning (bench/returning.py): one tablet's push into a team holding `--history` records of
  `--people` returning people, against its push into an empty team, batches in turn.
- aggregates (bench/aggregates.py): aggregates and public totals at `--small` and `--large` records.
- interop (bench/interop.py, opt-in: `--only interop` or `make bench-interop`): line-list rate and
  server memory, DHIS2 export time and payload size, over `--interop-records` records in one year.
- durability (bench/durability.py, SQLite): pushes with synchronous=FULL against NORMAL, one run.
- openrosa (bench/openrosa.py): OpenRosa submissions/s (one record per request, as ODK Collect sends
  them) against the JSON push of the same records, one per request and batched.
- horizon (bench/pull_horizon.py, PostgreSQL): the pull-horizon proof of tests/e2e/test_pull_horizon.py,
  ten times longer: writers of many teams push and submit while pullers page; every committed change
  reaches its team's puller exactly once.
- webhooks (bench/webhooks.py): push rate with 0, 1 and 10 webhooks in one run, the delay from a push's
  200 to the receiver's 2xx (p50/p95), events delivered per second.

The defaults fit `make bench` in under 10 minutes on a 2-core machine; `--large 1000000` is the
full run (about half an hour more per engine, for the bulk load). docs/performance.md says which
figures came from which run. The workers default to gunicorn.conf.py's (WORKERS, else 2).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from bench import (
    aggregates,
    durability,
    interop,
    maintenance,
    openrosa,
    pull_horizon,
    push,
    returning,
    slow_clients,
    webhooks,
)
from bench.common import Results, engine

BENCHMARKS = ("push", "returning", "aggregates", "slow", "maintenance", "openrosa", "durability", "webhooks", "horizon",
              "interop")
DEFAULT = ("push", "returning", "aggregates", "slow", "maintenance", "openrosa", "durability", "webhooks",
           "horizon")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--only", default=",".join(DEFAULT), help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--records", type=int, default=20_000, help="consultations pushed (and replayed)")
    parser.add_argument("--clients", type=int, default=4, help="tablets pushing at once (1: skip that figure)")
    parser.add_argument("--pull", type=int, default=50_000, help="records in the initial pull")
    parser.add_argument("--small", type=int, default=10_000, help="records for the small aggregate figures")
    parser.add_argument("--large", type=int, default=100_000, help="records for the large aggregate figures")
    parser.add_argument("--maintenance", type=int, default=50_000, help="records for rollups verify's figure")
    parser.add_argument("--requests", type=int, default=50, help="requests per latency figure")
    parser.add_argument("--submissions", type=int, default=2_000, help="OpenRosa submissions (one record each)")
    parser.add_argument("--history", type=int, default=100_000,
                        help="records of returning people already stored (the 'returning' figure)")
    parser.add_argument("--people", type=int, default=500, help="returning people of that history")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    parser.add_argument("--interop-records", type=int, default=100_000,
                        help="records in the interop database (1000000 for the issue-16 figures)")
    parser.add_argument("--interop-database", default=None,
                        help="a database URL to load once and reuse across runs (one engine only)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    results = Results()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    for name in args.engines.split(","):
        print(f"== {name}", flush=True)
        with engine(name) as eng:
            if "push" in only:
                push.run(eng, results, records=args.records, pull_records=args.pull, workers=args.workers,
                         clients=args.clients)
            if "returning" in only:
                returning.run(eng, results, history=args.history, records=min(args.records, 5_000),
                              people=args.people, workers=args.workers)
            if "slow" in only and name == "sqlite":  # the server, not the database, is measured
                slow_clients.run(eng, results, workers=args.workers)
            if "durability" in only:  # SQLite's synchronous FULL vs NORMAL (PostgreSQL: nothing to compare)
                durability.run(eng, results, workers=args.workers)
            if "maintenance" in only:
                maintenance.run(eng, results, records=args.maintenance)
            if "openrosa" in only:
                openrosa.run(eng, results, submissions=args.submissions, clients=args.clients, workers=args.workers)
            if "aggregates" in only:
                aggregates.run(eng, results, small=args.small, large=args.large, requests_count=args.requests,
                               workers=args.workers)
            if "webhooks" in only:
                webhooks.run(eng, results, workers=args.workers)
            if "horizon" in only:  # PostgreSQL only (the module says why)
                pull_horizon.run(eng, results, workers=args.workers)
            if "interop" in only:
                interop.run(eng, results, records=args.interop_records, database_url=args.interop_database)
    elapsed = time.perf_counter() - started
    print()
    print(results.table())
    print(f"\n{elapsed / 60:.1f} min on {os.cpu_count()} CPUs ({platform.python_implementation()} "
          f"{platform.python_version()}), {args.workers} gunicorn workers; load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other work on the machine "
          f"skews every figure; compare ratios rather than rates across runs)")


if __name__ == "__main__":
    main()
