"""The pull-horizon proof, longer than `make test` runs it (PostgreSQL only: SQLite has one writer
at a time and numbers seqs from one counter, so commits never land out of seq order there).

tests/e2e/horizon.py `exercise` against gunicorn as `make run` serves it (2 workers, 4 threads):
eight tablets of eight teams and two more of one of them push JSON batches and send OpenRosa
submissions, `rounds` times each, while four pullers page through their teams' streams with random
page sizes, pauses and a new connection per page, and one writer is killed mid-transaction. It
asserts that every puller got every committed change of its team exactly once and none of the
killed writer's; the figure says how much was checked.
"""

from __future__ import annotations

from bench.common import Engine, Results
from tests.e2e.horizon import exercise
from tests.e2e.live_server import live_server, prepare_database

ROUNDS = 60  # per writer; `make test` runs 6


def run(eng: Engine, results: Results, *, workers: int, rounds: int = ROUNDS) -> None:
    if eng.name != "postgresql":
        return
    url = eng.new_database("horizon")
    prepare_database(url)
    with live_server(url, workers=workers, threads=4) as server:
        outcome = exercise(server.url, url, rounds=rounds)
    pulled = ", ".join(f"{team} {count:,} in {outcome.pages[team]:,} pages" for team, count in outcome.pulled.items())
    results.add(eng.name, "pull horizon: every committed change exactly once", f"{outcome.records:,} records",
                f"{rounds} rounds of 10 writers (a JSON batch and an OpenRosa submission each) in "
                f"{outcome.seconds:.0f} s; pullers received {pulled}; none skipped, none twice; the killed "
                "writer's record reached nobody")
