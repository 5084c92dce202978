"""Stored records for tests and benchmarks: one at a time through the push's store, or in bulk.

`write_record` stores one record version through `SqlRecordStore` itself (insert or update, the
`record_changed` hook, in the store's unit of work), so a test that builds its data this way exercises the push's own
write path and its rollup maintenance instead of a copy of them. `load_records` is the benchmarks'
loader of up to millions of new records: multi-row INSERTs and one `rollups.apply_changes` per
batch, the same contribution code the store's flush runs, without the store's per-record work.

Test and bench support only: nothing in `server/` imports it (style.md: helpers live beside the
tests and benches, never as a second write path in the production package).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from server.aggregation.rollups import ReferenceLookup, apply_changes
from server.models import Record, Team
from server.persistence.seq import reserve_seqs
from server.persistence.store import unit_of_work
from sync.domain import (
    Activity,
    AgeBand,
    DeviceContext,
    Entity,
    PopulationGroup,
    RecordState,
    RecordStatus,
    Sex,
    Visit,
)


def record_row(state: RecordState) -> dict[str, Any]:
    """The `records` row of a new state, for the bulk INSERT (the store's own mapping is private)."""
    return {
        "id": state.id, "entity": state.entity.value, "team_id": state.team_id, "site_id": state.site_id,
        "occurred_on": state.occurred_on, "recorded_at": state.recorded_at,
        "population_group": state.data.get("population_group"),
        "beneficiary_ref": state.data.get("beneficiary_ref"), "data": dict(state.data),
        "version": state.version, "seq": state.seq, "status": state.status.value,
        "clock_suspect": state.clock_suspect, "device_id": state.device_id,
        "received_at": state.received_at, "updated_at": state.received_at,
    }


def write_record(session: Session, before: RecordState | None, after: RecordState) -> None:
    """Store `after` (a new record if `before` is None, else its next version) as a push does.

    The caller gives `after` its seq and commits (or not); the store writes in its session.
    """
    # The store reads its device for the device's team (its site check and quarantine rows,
    # neither used here) and the team's country (the rollups' person facts): the record's own team
    # stands in.
    team = session.get(Team, after.team_id)
    assert team is not None
    device = DeviceContext(after.device_id, after.team_id, team.country_code)
    with unit_of_work(session, device, batch_id=None, now=after.received_at) as store:
        if before is None:
            store.insert_record(after)
        else:
            store.update_record(after)
        store.record_changed(before, after)


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
        if session.get_bind().dialect.name == "postgresql":
            # Statistics as the tables grow, as after any bulk load: autovacuum's lag behind a load
            # leaves plans made for an almost empty table (the distinct cells' read of a batch's
            # people scanned every fact of the indicator: 4x slower loads at 1,000,000 records).
            session.execute(text("ANALYZE rollup_person_facts, rollup_person_firsts"))
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
    """Version 1 of an active record as a device would have created it (give it a seq before storing)."""
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
