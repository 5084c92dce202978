"""Where a push batch's time goes: pyinstrument over pushes through the app, grouped by cause.

    python -m bench.profile_push [--engine sqlite|postgresql] [--batches 8] [--size 500] [--tree]
    python -m bench.profile_push --openrosa [--engine ...] [--batches 500] [--tree]
    python -m bench.profile_push --replay [--engine ...] [--batches 8] [--size 500] [--tree]

`--openrosa` profiles `--batches` OpenRosa submissions of one consultation each instead (as ODK
Collect sends them: one multipart POST per record). `--replay` pushes the batches unprofiled, then
profiles the same mutations under new batch ids (a tablet resending after losing the answers).

In process (Flask's test client: the whole WSGI app, request parsing to commit, without gunicorn's
socket handling) on a fresh database of the engine (PostgreSQL durable, as in `make bench`).
After one warm-up batch, `--batches` batches of `--size` varied consultations are profiled, and
each sample's time goes to the innermost frame on its stack that names a cause (so nothing is
counted twice, and an ORM flush the rollup code triggers counts as a flush). `--tree` also
prints pyinstrument's call tree.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

from pyinstrument import Profiler

from bench.common import consultations, device_for, engine, team_sites
from bench.openrosa import collect_body, collect_instances
from tests.e2e.live_server import direct_app, prepare_database
from tests.factories import push_body


def openrosa_bodies(mutations: list[dict[str, Any]]) -> list[tuple[bytes, str]]:
    return [collect_body(xml) for xml in collect_instances(mutations)]


TEAM = "ly-mmt-tripoli"

# (cause, predicate on (function, file)). First match from the root down wins.
CAUSES: list[tuple[str, Any]] = [
    ("commit (WAL write + fsync)", lambda fn, path: fn == "_finish_transaction"),
    ("request JSON parse", lambda fn, path: path.endswith("server/web/http_body.py")),
    ("envelope schema", lambda fn, path: fn == "_load_envelope"),
    ("rollups", lambda fn, path: "server/aggregation/rollups.py" in path),
    ("store preload (reads + row locks)",
     lambda fn, path: fn.startswith("_preload") and path.endswith("server/persistence/store.py")),
    ("record validation (marshmallow)", lambda fn, path: path.endswith("schemas/records.py")),
    ("store flush (records, revisions, ops)",
     lambda fn, path: fn == "_flush" and path.endswith("server/persistence/store.py")),
    ("ORM flush (records)", lambda fn, path: fn in ("flush", "_autoflush") and "sqlalchemy/orm" in path),
    ("fingerprints", lambda fn, path: path.endswith("sync/fingerprint.py")),
    ("seq counter", lambda fn, path: path.endswith("server/persistence/seq.py")),
    ("response JSON", lambda fn, path: fn in ("jsonify", "response") and "flask" in path),
    ("authentication", lambda fn, path: path.endswith("server/web/auth.py")),
    ("OpenRosa multipart parse", lambda fn, path: path.endswith("server/integrations/openrosa/body.py")),
    ("OpenRosa instance XML parse", lambda fn, path: path.endswith("server/integrations/openrosa/instance.py")),
    ("OpenRosa submission bookkeeping", lambda fn, path: path.endswith("server/integrations/openrosa/submission.py")),
    ("write envelope (claim, device state, touch)", lambda fn, path: path.endswith("server/intake/envelope.py")),
    ("request hooks (log, metrics, headers, i18n)",
     lambda fn, path: path.endswith(("server/web/request_log.py", "server/web/metrics.py",
                                     "server/web/security_headers.py", "server/web/compression.py",
                                     "server/web/i18n.py"))),
    ("push engine (other)", lambda fn, path: path.endswith("sync/push.py")),
    ("store (other)", lambda fn, path: path.endswith("server/persistence/store.py")),
]


OTHER = "other (WSGI, Flask, SQLAlchemy outside the above)"


def split_by_cause(frame: Any, totals: dict[str, float], current: str = OTHER) -> None:
    """A frame's own time goes to the innermost cause on its stack: an ORM flush triggered from
    inside the rollup code counts as a flush, the rollups' own SQL as rollups."""
    cause = next((name for name, matches in CAUSES if matches(frame.function or "", frame.file_path or "")), current)
    totals[cause] += frame.time - sum(child.time for child in frame.children)
    for child in frame.children:
        split_by_cause(child, totals, cause)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="sqlite")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--tree", action="store_true")
    parser.add_argument("--openrosa", action="store_true", help="one-record OpenRosa submissions, not push batches")
    parser.add_argument("--replay", action="store_true",
                        help="the batches sent again under new batch ids (op-level replay: every item a duplicate)")
    args = parser.parse_args()
    with engine(args.engine) as eng:
        url = eng.new_database("profile")
        prepare_database(url)
        device = device_for(url, TEAM)
        sites = team_sites(url, TEAM)
        app = direct_app(url)
        client = app.test_client()
        if args.openrosa:
            args.size = 1
            bodies = openrosa_bodies(consultations(args.batches + 20, TEAM, sites, seed=5))
            submission_url = f"/openrosa/v1/key/{device.headers['Authorization'].removeprefix('Bearer ')}/submission"

            def push(body: Any) -> None:
                content, content_type = body
                response = client.post(submission_url, data=content,
                                       headers={"Content-Type": content_type, "X-OpenRosa-Version": "1.0"})
                assert response.status_code == 201, response.get_data(as_text=True)[:300]

            warm_up, bodies = bodies[:20], bodies[20:]
            for body in warm_up:
                push(body)
        else:
            bodies = [push_body(consultations(args.size, TEAM, sites, seed=n)) for n in range(args.batches + 1)]

            def push(body: Any) -> None:
                response = client.post("/api/v1/sync/push", json=body,
                                       headers={**device.headers, "Idempotency-Key": body["batch_id"]})
                assert response.status_code == 200, response.get_data(as_text=True)[:300]

            push(bodies[0])
            bodies = bodies[1:]
            if args.replay:
                for body in bodies:
                    push(body)
                bodies = [push_body(body["mutations"]) for body in bodies]
        profiler = Profiler(interval=0.0002 if args.openrosa else 0.0005)
        with profiler:
            for body in bodies:
                push(body)
        session = profiler.last_session
        assert session is not None
        totals: dict[str, float] = defaultdict(float)
        root = session.root_frame()
        if root is not None:
            split_by_cause(root, totals)
        wall = session.duration
        records = args.batches * args.size
        what, unit = ("submissions", "submission") if args.openrosa else ("batches", "batch")
        print(f"{args.engine}: {args.batches} {what} of {args.size}: {wall:.2f} s, "
              f"{records / wall:,.0f} rec/s, {wall / args.batches * 1000:.0f} ms/{unit} (profiler on)")
        for cause, seconds in sorted(totals.items(), key=lambda item: -item[1]):
            print(f"  {seconds / wall * 100:5.1f}%  {seconds / args.batches * 1000:7.2f} ms/{unit}  {cause}")
        if args.tree:
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        with app.app_context():
            from server.extensions import db

            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
