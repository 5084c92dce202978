"""`python -m bench.load`: see bench/load/__init__.py."""

from __future__ import annotations

import argparse
import os
import sys

from bench.load import __doc__ as DOC
from bench.load import report, run_engine


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=DOC,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="sqlite,postgresql", help="sqlite, postgresql or both, comma-separated")
    parser.add_argument("--tablets", type=int, default=8)
    parser.add_argument("--coordinators", type=int, default=2)
    parser.add_argument("--readers", type=int, default=4, help="website readers of the public impact JSON")
    parser.add_argument("--seconds", type=int, default=60, help="per engine")
    parser.add_argument("--records", type=int, default=10_000,
                        help="synthetic records over 2016-2018 loaded before the run")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    parser.add_argument("--database-url", default=None,
                        help="an empty database to use (e.g. PostgreSQL on another machine) instead of a fresh "
                             "local one; one run, named by --engine")
    args = parser.parse_args()
    engines = args.engine.split(",")
    if unknown := set(engines) - {"sqlite", "postgresql"}:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    if args.database_url and len(engines) != 1:
        parser.error("--database-url takes one --engine (the database's)")
    if args.tablets + args.coordinators + args.readers == 0:
        parser.error("no users: give --tablets, --coordinators or --readers")

    runs = []
    for name in engines:
        print(f"== {name}: {args.tablets} tablets, {args.coordinators} coordinators, {args.readers} website "
              f"readers for {args.seconds} s", flush=True)
        runs.append(run_engine(name, tablets=args.tablets, coordinators=args.coordinators, readers=args.readers,
                               seconds=args.seconds, records=args.records, workers=args.workers,
                               database_url=args.database_url))
    print()
    print(report(runs, workers=args.workers))
    server_errors = sum(run.server_errors for run in runs)
    if server_errors:
        print(f"\nFAILED: the server answered {server_errors} request(s) with a 5xx or not at all", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
