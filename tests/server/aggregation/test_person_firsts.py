"""`rollup_person_firsts` (each person's earliest fact per month and population group, and its place)
stays what the person facts make of it under batches of creates, corrections and voids; verify
catches a damaged, missing or stray row and rebuild repairs it; migration 0017 fills it from the
facts already there."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta
from typing import Any

from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from server.aggregation import verify
from server.aggregation.rollups import (
    First,
    FirstKey,
    apply_changes,
    fact_of_row,
    first_of_row,
    first_row,
    firsts_of,
    select_facts,
    select_firsts,
)
from server.extensions import db
from server.models import Record, RollupPersonFirst
from server.persistence.migrations_state import alembic_config
from server.persistence.seq import next_seq
from server.persistence.store import record_row
from sync.domain import Entity, RecordState, RecordStatus
from tests.bulk_records import make_state
from tests.conftest import seeded_app
from tests.server.aggregation.test_rollups import START, TEAMS, correction, entity_data, push

CHW, SITES = "ly-chw-tripoli", ["ly-cdc-tripoli-1", "ly-cdc-tripoli-2"]


def stored_firsts(session: Session) -> dict[FirstKey, First]:
    return dict(first_of_row(row) for row in session.execute(select_firsts()))


def firsts_of_stored_facts(session: Session) -> dict[FirstKey, First]:
    return firsts_of(dict(fact_of_row(row) for row in session.execute(select_facts())))


def write_batch(session: Session, changes: list[tuple[RecordState | None, RecordState]]) -> list[RecordState]:
    """The batch's record rows as the store's flush writes them, then the rollups of all its changes
    in one `apply_changes` (as a push's flush: creates merged, corrections recounted, together)."""
    table = Record.__table__
    stored = []
    for before, after in changes:
        after = dataclasses.replace(after, seq=next_seq(session))
        row = record_row(after, after.received_at.replace(tzinfo=None))
        if before is None:
            session.execute(insert(table), [row])
        else:
            session.execute(update(table).where(table.c.id == after.id).values(row))
        stored.append(after)
    apply_changes(session, [(before, after) for (before, _), after in zip(changes, stored, strict=True)])
    return stored


@st.composite
def returning_record(draw: st.DrawFn) -> RecordState:
    """A record of one of two people over three months, at any team's site: the same person-month
    and group met again in other places, earlier and later, as returning people are. Days and
    places come from a seeded random, uniform: hypothesis' own draws lean to the first choice
    (one day, one site), where no first would ever move to another place."""
    rng = draw(st.randoms(use_true_random=False))
    entity = rng.choice([Entity.CONSULTATION, Entity.DISTRIBUTION])
    team = rng.choice(sorted(TEAMS))
    data = {**draw(entity_data(entity)), "population_group": rng.choice(["refugee", "migrant"])}
    data.pop("beneficiary_ref", None)
    if ref := rng.choice(["p1", "p2", "p2", None]):
        data["beneficiary_ref"] = ref
    return make_state(entity, team, rng.choice(TEAMS[team]), START + timedelta(days=rng.randrange(80)), data,
                      record_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_firsts_are_what_the_facts_make_of_them_after_batches_of_changes(session: Session,
                                                                         data: st.DataObject) -> None:
    nested = session.begin_nested()  # each example starts from the seeded database
    try:
        current: dict[str, RecordState] = {}
        for _ in range(data.draw(st.integers(2, 5), label="batches")):
            changes: list[tuple[RecordState | None, RecordState]] = []
            in_batch: set[str] = set()
            for _ in range(data.draw(st.integers(1, 8), label="changes")):
                live = sorted(record_id for record_id, state in current.items()
                              if state.status is not RecordStatus.VOIDED and record_id not in in_batch)
                if live and data.draw(st.booleans(), label="correct"):
                    before = current[data.draw(st.sampled_from(live))]
                    changes.append((before, data.draw(correction(before))))
                    in_batch.add(before.id)
                else:
                    state = data.draw(returning_record())
                    if state.id in current or state.id in in_batch:
                        continue
                    changes.append((None, state))
                    in_batch.add(state.id)
            for state in write_batch(session, changes):
                current[state.id] = state
            assert stored_firsts(session) == firsts_of_stored_facts(session)
            # verify recounts facts and firsts from the records, and the distinct cells from the facts.
            assert verify.verify(session) == []
    finally:
        nested.rollback()


def visit(ref: str, day: date, site: str, **data: Any) -> RecordState:
    fields = {"population_group": "refugee", "sex": "f", "age_band": "18-59", "visit": "new", "service": "general",
              "referral": False, "beneficiary_ref": ref, **data}
    return make_state(Entity.CONSULTATION, CHW, site, day, fields)


def test_a_persons_first_is_their_earliest_fact_and_its_place(session: Session) -> None:
    later = push(session, None, visit("p5", date(2016, 1, 20), SITES[1]))
    first = push(session, None, visit("p5", date(2016, 1, 3), SITES[0], service="mhpss"))
    push(session, None, visit("p5", date(2016, 1, 9), SITES[1], population_group="migrant"))
    key = ("people_consulted", "LY", "p5", "2016-01", "refugee")
    firsts = stored_firsts(session)
    # An earlier fact of another combination (service) takes over, with its site; another group keeps its own.
    assert firsts[key] == First(date(2016, 1, 3), first.id, CHW, SITES[0])
    assert firsts[key[:4] + ("migrant",)].first_occurred_on == date(2016, 1, 9)
    voided = push(session, first, dataclasses.replace(first, status=RecordStatus.VOIDED, version=2))
    assert stored_firsts(session)[key] == First(date(2016, 1, 20), later.id, CHW, SITES[1])
    moved = push(session, later, dataclasses.replace(later, occurred_on=date(2016, 2, 1), version=2))
    assert key not in stored_firsts(session)
    assert stored_firsts(session)[("people_consulted", "LY", "p5", "2016-02", "refugee")] == First(
        date(2016, 2, 1), moved.id, CHW, SITES[1])
    assert voided.status is RecordStatus.VOIDED
    assert verify.verify(session) == []


def test_verify_catches_a_damaged_missing_or_stray_first_and_rebuild_repairs_them(session: Session) -> None:
    push(session, None, visit("p1", date(2016, 1, 12), SITES[1]))
    first = push(session, None, visit("p1", date(2016, 1, 5), SITES[0], service="mhpss"))
    assert verify.verify(session) == []
    # The place of another fact: the distinct cells (checked against the facts) cannot show it.
    session.execute(update(RollupPersonFirst).where(RollupPersonFirst.indicator == "people_consulted")
                    .values(site_id=SITES[1]))
    differences = verify.verify(session)
    assert {d.table for d in differences} == {"rollup_person_firsts"}
    assert [str(d) for d in differences] == [
        f"rollup_person_firsts people_consulted/LY/p1/2016-01/refugee: "
        f"stored {First(date(2016, 1, 5), first.id, CHW, SITES[1])}, "
        f"expected {First(date(2016, 1, 5), first.id, CHW, SITES[0])}"]
    verify.rebuild(session)
    assert verify.verify(session) == []

    session.execute(delete(RollupPersonFirst.__table__))
    stray = First(date(2010, 7, 1), "stray", CHW, SITES[0])
    session.execute(insert(RollupPersonFirst.__table__),
                    [first_row(("people_consulted", "LY", "p9", "2010-07", "idp"), stray)])
    assert "2010-07" in verify.months(session)
    found = {(d.table, d.key, d.stored is None, d.expected is None) for d in verify.verify(session)}
    assert found == {("rollup_person_firsts", ("people_consulted", "LY", "p1", "2016-01", "refugee"), True, False),
                     ("rollup_person_firsts", ("people_consulted", "LY", "p9", "2010-07", "idp"), False, True)}
    rebuilt = verify.rebuild(session)
    assert rebuilt.firsts == 1
    assert verify.verify(session) == []
    assert verify.months(session) == ["2016-01"]


def test_migration_fills_the_firsts_from_the_facts(make_database_url, engine_name: str) -> None:
    url = make_database_url(engine_name)
    app = seeded_app(url)
    with app.app_context():
        for index in range(48):  # 6 people, several facts a month each: places, services, groups varied
            push(db.session, None, visit(f"p{index % 6}", date(2016, 1, 2) + timedelta(days=index * 2),
                                         SITES[index % 2], service=("general", "mhpss", "srh")[index % 3],
                                         population_group=("refugee", "refugee", "migrant")[index % 3]))
        db.session.commit()
        written = stored_firsts(db.session)
        assert written == firsts_of_stored_facts(db.session)
        assert len(written) > 12
        db.session.remove()
        db.engine.dispose()
    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.downgrade(cfg, "0016")
    command.upgrade(cfg, "head")
    with app.app_context():
        assert stored_firsts(db.session) == written
        assert verify.verify(db.session) == []
        db.session.remove()
        db.engine.dispose()
