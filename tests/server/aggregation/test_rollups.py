"""Rollups stay exact under creates, corrections and voids (through the store's hook), checked
against a brute-force count over the raw records written from domain.md alone; verify/rebuild."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from server.aggregation import verify
from server.aggregation.query import aggregate
from server.aggregation.rollups import cell_row, fact_of_row, first_of_row, firsts_of, select_facts, select_firsts
from server.models import Area, Item, RollupCell, RollupPersonFact, Site, Team
from server.persistence.seq import next_seq
from sync.domain import Entity, RecordState, RecordStatus
from tests.bulk_records import make_state, write_record

# --- the oracle: domain.md "Indicators", in plain Python over final record states ----------------

ENTITY = {"health_consultations": "consultation", "people_consulted": "consultation",
          "hygiene_kits_distributed": "distribution", "hygiene_kit_recipients": "distribution",
          "people_reached_by_chws": "outreach", "people_trained": "training"}
DISTINCT = {"people_consulted", "hygiene_kit_recipients"}
HYGIENE = {"hygiene_kits_distributed", "hygiene_kit_recipients"}


@dataclasses.dataclass
class Reference:
    site_area: dict[str, str]
    site_type: dict[str, str]
    area_country: dict[str, str]
    team_country: dict[str, str]
    item_category: dict[str, str]


def load_reference(session: Session) -> Reference:
    return Reference(
        site_area=dict(session.execute(select(Site.id, Site.area_id)).all()),
        site_type=dict(session.execute(select(Site.id, Site.site_type)).all()),
        area_country=dict(session.execute(select(Area.id, Area.country_code)).all()),
        team_country=dict(session.execute(select(Team.id, Team.country_code)).all()),
        item_category=dict(session.execute(select(Item.code, Item.category)).all()),
    )


def brute_force(records: list[RecordState], ref: Reference, indicator: str, group_by: list[str],
                filters: dict[str, list[Any]], date_from: date | None, date_to: date | None) -> tuple[dict, int]:
    """({group key tuple: value}, total) straight from the records."""
    units = []  # (dims, value, person, (occurred_on, id))
    for r in records:
        if r.status != RecordStatus.ACTIVE or r.entity.value != ENTITY[indicator]:
            continue
        if indicator in HYGIENE and ref.item_category[r.data["item_code"]] != "hygiene_kit":
            continue
        if (date_from and r.occurred_on < date_from) or (date_to and r.occurred_on > date_to):
            continue
        d = r.occurred_on
        dims = {"country": ref.team_country[r.team_id], "area": ref.site_area[r.site_id], "site": r.site_id,
                "site_type": ref.site_type[r.site_id], "team": r.team_id, "year": d.year,
                "quarter": f"{d.year}Q{(d.month - 1) // 3 + 1}", "month": f"{d.year}-{d.month:02d}",
                "population_group": r.data.get("population_group"), "sex": r.data.get("sex"),
                "age_band": r.data.get("age_band"), "service": r.data.get("service"), "visit": r.data.get("visit"),
                "item": r.data.get("item_code"), "activity": r.data.get("activity"), "topic": r.data.get("topic"),
                "participant_type": r.data.get("participant_type")}
        person = (dims["country"], r.data["beneficiary_ref"]) if r.data.get("beneficiary_ref") else ("-", r.id)
        if indicator == "people_reached_by_chws":
            for sex, bands in r.data["reached"].items():
                for band, n in bands.items():
                    units.append(({**dims, "sex": sex, "age_band": band}, n, person, (d, r.id)))
        elif indicator == "people_trained":
            for sex, n in r.data["participants"].items():
                units.append(({**dims, "sex": sex}, n, person, (d, r.id)))
        elif indicator == "hygiene_kits_distributed":
            units.append((dims, r.data["quantity"], person, (d, r.id)))
        else:
            units.append((dims, 1, person, (d, r.id)))
    units = [u for u in units if all(u[0][k] in values for k, values in filters.items())]

    def count(group: list[str]) -> dict[tuple, int]:
        out: dict[tuple, int] = defaultdict(int)
        if indicator not in DISTINCT:
            for dims, value, _, _ in units:
                out[tuple(dims[g] for g in group)] += value
        else:
            bucket = next((t for t in ("month", "quarter", "year") if t in group), "year")
            earliest: dict[tuple, tuple] = {}
            for dims, _, person, order in units:
                key = (dims[bucket], person)
                if key not in earliest or order < earliest[key][0]:
                    earliest[key] = (order, dims)
            for _, dims in earliest.values():
                out[tuple(dims[g] for g in group)] += 1
        return {k: v for k, v in out.items() if v}

    return count(group_by), sum(count([]).values())


# --- writing records through the store's hook ---------------------------------------------------

TEAMS = {"ly-mmt-tripoli": ["ly-mp-tripoli"], "ly-chw-tripoli": ["ly-cdc-tripoli-1", "ly-cdc-tripoli-2"],
         "ly-dcmt-sabha": ["ly-dc-sabha"]}
PEOPLE = [None, "p1", "p2", "p3"]
START = date(2016, 1, 1)


def person_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields = {"population_group": draw(st.sampled_from(["refugee", "migrant", "idp"])),
              "sex": draw(st.sampled_from(["f", "m"])), "age_band": draw(st.sampled_from(["5-17", "18-59"]))}
    ref = draw(st.sampled_from(PEOPLE))
    if ref:
        fields["beneficiary_ref"] = ref
    return fields


@st.composite
def entity_data(draw: st.DrawFn, entity: Entity) -> dict[str, Any]:
    if entity is Entity.CONSULTATION:
        return {**person_fields(draw), "visit": draw(st.sampled_from(["new", "follow_up"])),
                "service": draw(st.sampled_from(["general", "mhpss"])), "referral": False}
    if entity is Entity.DISTRIBUTION:
        return {**person_fields(draw), "item_code": draw(st.sampled_from(["hk-family", "hk-individual", "blanket"])),
                "quantity": draw(st.integers(1, 5))}
    if entity is Entity.TRAINING:
        return {"topic": draw(st.sampled_from(["srh", "mhpss", "first_aid"])),
                "participant_type": draw(st.sampled_from(["moh_staff", "volunteer"])), "days": 2,
                "participants": draw(st.dictionaries(st.sampled_from(["f", "m", "x"]), st.integers(0, 9),
                                                     min_size=1))}
    tallies = draw(st.dictionaries(st.sampled_from(["f", "m", "x"]),
                                   st.dictionaries(st.sampled_from(["0-4", "18-59", "60+"]), st.integers(0, 9),
                                                   min_size=1), min_size=1))
    return {"population_group": draw(st.sampled_from(["refugee", "host"])),
            "activity": draw(st.sampled_from(["screening", "group_session"])), "reached": tallies}


@st.composite
def new_record(draw: st.DrawFn) -> RecordState:
    entity = draw(st.sampled_from(list(Entity)))
    team = draw(st.sampled_from(sorted(TEAMS)))
    occurred = START + timedelta(days=draw(st.integers(0, 460)))  # crosses a year and quarters
    return make_state(entity, team, draw(st.sampled_from(TEAMS[team])), occurred, draw(entity_data(entity)),
                      record_id=str(uuid.UUID(int=draw(st.integers(0, 2**64)))))


@st.composite
def correction(draw: st.DrawFn, state: RecordState) -> RecordState:
    """A new version: other dates, site, codes (including the person and the item), or a void."""
    after = copy.deepcopy(state)
    after.version += 1
    if draw(st.integers(0, 4)) == 0:
        after.status = RecordStatus.VOIDED
        return after
    if draw(st.booleans()):
        after.occurred_on = START + timedelta(days=draw(st.integers(0, 460)))
    if draw(st.booleans()):
        after.site_id = draw(st.sampled_from(TEAMS[state.team_id]))
    if draw(st.booleans()):
        fresh = draw(entity_data(state.entity))
        keys = draw(st.sets(st.sampled_from(sorted(fresh)), min_size=1))
        after.data = {**after.data, **{k: fresh[k] for k in keys}}
        if "beneficiary_ref" in keys or draw(st.booleans()):
            after.data.pop("beneficiary_ref", None)
            if fresh.get("beneficiary_ref"):
                after.data["beneficiary_ref"] = fresh["beneficiary_ref"]
    return after


def push(session: Session, before: RecordState | None, after: RecordState) -> RecordState:
    after = dataclasses.replace(after, seq=next_seq(session))
    write_record(session, before, after)
    return after


def random_dates(draw: st.DrawFn) -> tuple[date | None, date | None]:
    bounds = [None, date(2016, 1, 1), date(2016, 2, 15), date(2016, 3, 31), date(2016, 7, 1), date(2016, 12, 31),
              date(2017, 1, 20), date(2017, 2, 28)]
    lo, hi = draw(st.sampled_from(bounds)), draw(st.sampled_from(bounds))
    if lo and hi and lo > hi:
        lo, hi = hi, lo
    return lo, hi


FILTER_VALUES = {"population_group": ["refugee", "migrant", "idp", "host"], "sex": ["f", "m", "x"],
                 "age_band": ["5-17", "18-59", "60+"], "team": sorted(TEAMS), "area": ["ly-tripoli", "ly-sabha"],
                 "site_type": ["mobile_point", "community_centre", "detention_centre"], "year": [2016, 2017],
                 "quarter": ["2016Q1", "2016Q3", "2017Q1"], "month": ["2016-02", "2016-12", "2017-01"],
                 "service": ["general", "mhpss"], "visit": ["new", "follow_up"],
                 "item": ["hk-family", "hk-individual", "blanket"], "activity": ["screening", "group_session"],
                 "site": ["ly-mp-tripoli", "ly-cdc-tripoli-1", "ly-dc-sabha"], "country": ["LY"],
                 "topic": ["srh", "first_aid"], "participant_type": ["moh_staff", "volunteer"]}


@settings(max_examples=14, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_indicator_matches_a_brute_force_count(session: Session, data: st.DataObject) -> None:
    from server.aggregation.indicators import INDICATORS

    ref = load_reference(session)
    nested = session.begin_nested()  # each example starts from the seeded database
    try:
        current: dict[str, RecordState] = {}
        for _ in range(data.draw(st.integers(1, 14), label="creates")):
            state = data.draw(new_record())
            if state.id not in current:
                current[state.id] = push(session, None, state)
        for _ in range(data.draw(st.integers(0, 10), label="corrections")):
            record_id = data.draw(st.sampled_from(sorted(current)))
            before = current[record_id]
            if before.status is RecordStatus.VOIDED:
                continue
            current[record_id] = push(session, before, data.draw(correction(before)))
        records = list(current.values())
        for indicator in INDICATORS:
            dims = [d for d in indicator.dimensions if d in FILTER_VALUES]
            group_by = data.draw(st.lists(st.sampled_from(dims), max_size=2, unique=True), label="group_by")
            filter_names = data.draw(st.lists(st.sampled_from(dims), max_size=2, unique=True), label="filters")
            filters = {name: data.draw(st.lists(st.sampled_from(FILTER_VALUES[name]), min_size=1, max_size=2,
                                                unique=True)) for name in filter_names}
            date_from, date_to = random_dates(data.draw)
            result = aggregate(session, indicator.code, group_by, filters, date_from, date_to)
            expected_rows, expected_total = brute_force(records, ref, indicator.code, group_by, filters,
                                                        date_from, date_to)
            got = {tuple(row[g] for g in group_by): row["value"] for row in result.rows}
            context = (indicator.code, group_by, filters, date_from, date_to)
            assert got == expected_rows, context
            assert result.total == expected_total, context
        # The person firsts (what a push's distinct cells are worked out from) are what the facts make
        # of them; verify also recounts both from the records.
        facts = dict(fact_of_row(row) for row in session.execute(select_facts()))
        assert dict(first_of_row(row) for row in session.execute(select_firsts())) == firsts_of(facts)
        assert verify.verify(session) == []
    finally:
        nested.rollback()


# --- focused cases ----------------------------------------------------------------------------


def consultation(ref: str | None, occurred: date, **data: Any) -> RecordState:
    fields = {"population_group": "refugee", "sex": "f", "age_band": "18-59", "visit": "new",
              "service": "general", "referral": False, **data}
    if ref:
        fields["beneficiary_ref"] = ref
    return make_state(Entity.CONSULTATION, "ly-mmt-tripoli", "ly-mp-tripoli", occurred, fields)


def test_earliest_record_moves_when_it_is_voided_or_corrected(session: Session) -> None:
    first = push(session, None, consultation("p1", date(2016, 1, 5), service="mhpss"))
    push(session, None, consultation("p1", date(2016, 1, 9), service="general"))

    def by_service() -> dict[str, int]:
        rows = aggregate(session, "people_consulted", ["service"], {}, None, None).rows
        return {row["service"]: row["value"] for row in rows}

    assert by_service() == {"mhpss": 1}
    moved = dataclasses.replace(first, occurred_on=date(2016, 1, 20), version=2)
    moved = push(session, first, moved)
    assert by_service() == {"general": 1}
    voided = dataclasses.replace(moved, status=RecordStatus.VOIDED, version=3)
    push(session, moved, voided)
    assert by_service() == {"general": 1}
    assert aggregate(session, "health_consultations", [], {}).total == 1
    assert verify.verify(session) == []


def test_a_person_counts_once_per_bucket(session: Session) -> None:
    for day in (date(2016, 1, 5), date(2016, 2, 5), date(2017, 3, 1)):
        push(session, None, consultation("p9", day))
    push(session, None, consultation(None, date(2016, 1, 6)))
    push(session, None, consultation(None, date(2016, 1, 6)))
    assert aggregate(session, "people_consulted", [], {}).total == 2 + 2  # p9 in 2016 and 2017, 2 anonymous
    months = aggregate(session, "people_consulted", ["month"], {"year": [2016]})
    assert [(r["month"], r["value"]) for r in months.rows] == [("2016-01", 3), ("2016-02", 1)]
    assert months.total == 3


def test_creates_merge_into_a_persons_facts_as_a_recount_would(session: Session) -> None:
    """New records are merged into stored facts by an upsert (no read of the person's records):
    a later push of an earlier day takes over as the first record, counts add up, and a batch
    holding the same person twice merges in memory first. `verify` recounts from the records."""
    from sqlalchemy import select

    from server.aggregation.rollups import apply_changes
    from server.models import RollupPersonFact

    push(session, None, consultation("p7", date(2016, 1, 20)))
    earlier = push(session, None, consultation("p7", date(2016, 1, 3)))
    batch = [dataclasses.replace(consultation("p7", day), seq=next_seq(session))
             for day in (date(2016, 1, 25), date(2016, 1, 2))]
    for state in batch:
        write_record_row(session, state)
    apply_changes(session, [(None, state) for state in batch])
    fact = session.execute(select(RollupPersonFact).where(
        RollupPersonFact.beneficiary_ref == "p7", RollupPersonFact.indicator == "people_consulted")).scalar_one()
    assert (fact.first_occurred_on, fact.first_record_id, fact.n_records) == (date(2016, 1, 2), batch[1].id, 4)
    assert earlier.id != batch[1].id
    assert aggregate(session, "people_consulted", [], {}).total == 1
    assert verify.verify(session) == []


def write_record_row(session: Session, state: RecordState) -> None:
    """The record's row alone (its rollups are the caller's): as the store's flush writes a batch."""
    from sqlalchemy import insert

    from server.models import Record
    from server.persistence.store import record_row

    session.execute(insert(Record.__table__), [record_row(state, state.received_at.replace(tzinfo=None))])


def test_verify_detects_a_tampered_cell_and_rebuild_repairs_it(session: Session) -> None:
    push(session, None, consultation("p1", date(2016, 1, 5)))
    push(session, None, consultation(None, date(2016, 1, 5)))
    assert verify.verify(session) == []
    session.execute(update(RollupCell).where(RollupCell.indicator == "health_consultations")
                    .values(value=RollupCell.value + 1))
    session.execute(update(RollupPersonFact).values(first_record_id="tampered"))
    differences = verify.verify(session)
    assert {d.table for d in differences} == {"rollup_cells", "rollup_person_facts"}
    assert any("health_consultations" in str(d) and "stored 3, expected 2" in str(d) for d in differences)
    verify.rebuild(session)
    assert verify.verify(session) == []


def test_rollups_cli_verify_and_rebuild(app, session: Session) -> None:
    push(session, None, consultation(None, date(2016, 1, 5)))
    session.flush()
    runner = app.test_cli_runner()
    ok: Result = runner.invoke(args=["rollups", "verify"])
    assert ok.exit_code == 0, ok.output
    session.execute(update(RollupCell).values(value=RollupCell.value + 5))
    bad = runner.invoke(args=["rollups", "verify"])
    assert bad.exit_code == 1
    assert "rollup_cells health_consultations/2016-01" in bad.output
    rebuilt = runner.invoke(args=["rollups", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(args=["rollups", "verify"]).exit_code == 0


@pytest.mark.parametrize("item, counted", [("hk-family", True), ("blanket", False)])
def test_hygiene_kits_follow_the_item_category(session: Session, item: str, counted: bool) -> None:
    state = make_state(Entity.DISTRIBUTION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 5, 1),
                       {"population_group": "idp", "sex": "m", "age_band": "5-17", "item_code": item, "quantity": 3})
    push(session, None, state)
    assert aggregate(session, "hygiene_kits_distributed", [], {}).total == (3 if counted else 0)
    assert aggregate(session, "hygiene_kit_recipients", [], {}).total == (1 if counted else 0)


def test_verify_and_rebuild_go_month_by_month_and_see_a_month_with_rollups_but_no_records(session: Session) -> None:
    push(session, None, consultation(None, date(2016, 1, 5)))
    push(session, None, consultation("p2", date(2016, 3, 9)))
    stray = cell_row(("health_consultations", "2010-07", "ly-mmt-tripoli", "ly-mp-tripoli", "idp",
                      "f", "18-59", "general", "new", "", "", "", ""), 4)
    session.execute(insert(RollupCell.__table__), [stray])
    assert verify.months(session) == ["2010-07", "2016-01", "2016-03"]
    seen: list[str] = []
    differences = verify.verify(session, progress=seen.append)
    # Each month, then each distinct indicator's cells (from the facts), as many steps as announced.
    assert seen == ["2010-07", "2016-01", "2016-03", "distinct hygiene_kit_recipients", "distinct people_consulted"]
    assert verify.steps(session) == len(seen)
    assert [str(d) for d in differences] == [
        "rollup_cells health_consultations/2010-07/ly-mmt-tripoli/ly-mp-tripoli/idp/f/18-59/general/new////: "
        "stored 4, expected None"]
    verify.rebuild(session)
    assert verify.verify(session) == []
    assert verify.months(session) == ["2016-01", "2016-03"]
