"""Write records the way the SQL store does (row, flush, `record_changed`), one at a time or in bulk.

`write_record` stands in for the push engine's store until it exists, so tests exercise the very
hook the store will call. `load_records` is the bulk loader for benchmarks: it inserts rows in
batches and feeds them to `rollups.apply_changes`, the same contribution code as a push.

`python -m server.aggregation.bulk --records 1000000 [--database-url URL]` loads synthetic records
into a migrated, demo-seeded database and times typical queries (see docs in the module's main).
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from server.aggregation.rollups import ReferenceLookup, apply_changes, record_changed
from server.models import Record, Team
from server.seq import reserve_seqs
from sync.domain import Activity, AgeBand, Entity, PopulationGroup, RecordState, RecordStatus, Sex, Visit


def record_row(state: RecordState) -> dict[str, Any]:
    """The `records` row of a state (entity fields in `data`; the person's fields also as columns)."""
    return {
        "id": state.id, "entity": state.entity.value, "team_id": state.team_id, "site_id": state.site_id,
        "occurred_on": state.occurred_on, "recorded_at": state.recorded_at,
        "population_group": state.data.get("population_group", ""),
        "beneficiary_ref": state.data.get("beneficiary_ref"), "data": dict(state.data),
        "version": state.version, "seq": state.seq, "status": state.status.value,
        "clock_suspect": state.clock_suspect, "device_id": state.device_id,
        "received_at": state.received_at, "updated_at": state.received_at,
    }


def write_record(session: Session, before: RecordState | None, after: RecordState) -> None:
    """Store `after` (insert or replace), flush, then maintain the rollups: the store's sequence."""
    row = record_row(after)
    existing = session.get(Record, after.id)
    if existing is None:
        session.add(Record(**row))
    else:
        for name, value in row.items():
            setattr(existing, name, value)
    session.flush()
    record_changed(session, before, after)


def load_records(session: Session, states: Iterable[RecordState], batch_size: int = 5000) -> int:
    """Insert new records (version 1) in batches, maintaining rollups. Returns how many."""
    ref = ReferenceLookup(session, preload=True)
    count = 0
    batch: list[RecordState] = []

    def flush_batch() -> None:
        seqs = reserve_seqs(session, len(batch))
        for state, seq in zip(batch, seqs, strict=True):
            state.seq = seq
        session.execute(insert(Record), [record_row(state) for state in batch])
        apply_changes(session, [(None, state) for state in batch], ref)
        batch.clear()

    for state in states:
        batch.append(state)
        count += 1
        if len(batch) >= batch_size:
            flush_batch()
    if batch:
        flush_batch()
    return count


def make_state(entity: Entity, team_id: str, site_id: str, occurred_on: date, data: dict[str, Any],
               *, record_id: str | None = None, seq: int = 0) -> RecordState:
    now = datetime(2026, 1, 1)
    return RecordState(id=record_id or str(uuid.uuid4()), entity=entity, team_id=team_id, site_id=site_id,
                       occurred_on=occurred_on, recorded_at=now.isoformat() + "Z", version=1,
                       status=RecordStatus.ACTIVE, seq=seq, clock_suspect=False, data=data,
                       device_id="bulk", received_at=now)


# --- synthetic data for benchmarks -------------------------------------------------------------


def synthetic_states(session: Session, n: int, *, seed: int = 1, start: date = date(2016, 1, 1),
                     days: int = 3 * 365, people: int | None = None) -> Iterator[RecordState]:
    """Plausible records over `days` from `start` at the demo teams' sites."""
    rng = random.Random(seed)
    teams = [(team.id, team.site_ids) for team in session.execute(select(Team)).scalars()]
    people = people or max(n // 4, 1)
    groups, sexes, bands = list(PopulationGroup), list(Sex), list(AgeBand)
    services = ["general", "mhpss", "srh", "gbv", "ncd", "trauma", "vaccination"]
    items = ["hk-family", "hk-individual", "dk-standard", "blanket"]
    for _ in range(n):
        team_id, sites = rng.choice(teams)
        occurred = start + timedelta(days=rng.randrange(days))
        base: dict[str, Any] = {"population_group": rng.choice(groups).value}
        ref = f"p{rng.randrange(people)}" if rng.random() < 0.7 else None
        roll = rng.random()
        if roll < 0.6:
            entity = Entity.CONSULTATION
            base |= {"sex": rng.choice(sexes).value, "age_band": rng.choice(bands).value,
                     "visit": rng.choice(list(Visit)).value, "service": rng.choice(services), "referral": False}
        elif roll < 0.85:
            entity = Entity.DISTRIBUTION
            base |= {"sex": rng.choice(sexes).value, "age_band": rng.choice(bands).value,
                     "item_code": rng.choice(items), "quantity": rng.randint(1, 5)}
        else:
            entity, ref = Entity.OUTREACH, None
            base |= {"activity": rng.choice(list(Activity)).value,
                     "reached": {"f": {"18-59": rng.randint(1, 30)}, "m": {"5-17": rng.randint(0, 20)}}}
        if ref:
            base["beneficiary_ref"] = ref
        yield make_state(entity, team_id, rng.choice(sites), occurred, base)


def _time(fn: Any, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:  # pragma: no cover - a benchmark, run by hand
    from server.aggregation.query import aggregate
    from server.app import create_app
    from server.commands.database import upgrade_database
    from server.extensions import db
    from server.seed import seed_demo

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    overrides: dict[str, object] = {}
    if args.database_url:
        import config

        url = config.normalise_database_url(args.database_url)
        overrides = {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": config.engine_options(url)}
    app = create_app(overrides)
    with app.app_context():
        upgrade_database()
        seed_demo(db.session)
        db.session.commit()
        started = time.perf_counter()
        loaded = load_records(db.session, synthetic_states(db.session, args.records))
        db.session.commit()
        print(f"loaded {loaded} records in {time.perf_counter() - started:.1f} s")
        queries = {
            "health_consultations by area,month (2016)": lambda: aggregate(
                db.session, "health_consultations", ["area", "month"], {"country": ["LY"]},
                date(2016, 1, 1), date(2016, 12, 31)),
            "health_consultations year total 2016": lambda: aggregate(
                db.session, "health_consultations", [], {"country": ["LY"], "year": [2016]}),
            "people_reached_by_chws by sex,age_band (2016)": lambda: aggregate(
                db.session, "people_reached_by_chws", ["sex", "age_band"], {"year": [2016]}),
            "health_consultations by area, part-month edges": lambda: aggregate(
                db.session, "health_consultations", ["area"], {}, date(2016, 1, 15), date(2016, 12, 15)),
            "people_consulted year total 2016": lambda: aggregate(
                db.session, "people_consulted", [], {"year": [2016]}),
            "people_consulted by area,month (2016)": lambda: aggregate(
                db.session, "people_consulted", ["area", "month"], {"year": [2016]}),
        }
        for label, fn in queries.items():
            print(f"{label}: {_time(fn):.1f} ms")


if __name__ == "__main__":  # pragma: no cover
    main()
