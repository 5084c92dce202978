"""Distinct people read from `rollup_distinct_cells` (server/aggregation/distinct.py): the terms a
person adds sum to their earliest record under any population-group filter, the cells stay in step
with creates, corrections and voids, the queries that read them agree with a brute-force count,
and the migration fills them from facts already there."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from alembic import command
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.aggregation import query, verify
from server.aggregation.distinct import (
    GROUP_BITS,
    OTHER_BIT,
    PersonFact,
    groups_before_none_of,
    groups_mask,
    person_cells,
    start_month,
)
from server.aggregation.query import aggregate
from server.aggregation.rollups import expected_distinct_cells
from server.extensions import db
from server.models import RollupDistinctCell
from server.persistence.migrations_state import alembic_config
from sync.domain import RecordStatus
from tests.conftest import seeded_app
from tests.server.aggregation.test_rollups import (
    brute_force,
    consultation,
    correction,
    load_reference,
    new_record,
    push,
)

GROUPS = ["refugee", "migrant", "idp", "returnee", ""]


@st.composite
def person_facts(draw: st.DrawFn) -> list[PersonFact]:
    days = st.integers(0, 400).map(lambda n: date(2016, 1, 1) + timedelta(days=n))
    facts = []
    for index in range(draw(st.integers(1, 8))):
        day = draw(days)
        facts.append(PersonFact(f"{day.year:04d}-{day.month:02d}", draw(st.sampled_from(["t1", "t2"])),
                                draw(st.sampled_from(["s1", "s2", "s3"])), draw(st.sampled_from(GROUPS)), day,
                                f"r{index}"))
    return facts


@given(facts=person_facts())
def test_a_persons_cells_count_them_once_at_their_earliest_record_under_every_group_filter(
        facts: list[PersonFact]) -> None:
    cells = person_cells("people_consulted", facts)
    buckets = {(period, start) for (_, period, _earlier, start, *_rest) in cells}
    for period, start in buckets:
        in_bucket = [f for f in facts if start_month(period, f.month) == start]
        # Every filter a query can ask (any set of named groups), and none (every bit).
        filters = [groups_mask(chosen) for size in range(1, 5)
                   for chosen in itertools.combinations(GROUPS[:4], size)]
        for allowed in [*filters, sum(GROUP_BITS.values()) | OTHER_BIT]:
            read = set(groups_before_none_of(allowed))  # the query's `earlier_groups IN (...)`
            summed: dict[tuple[str, str, str], int] = {}
            for (_, p, earlier, s, team, site, group), value in cells.items():
                if (p, s) == (period, start) and earlier in read and groups_mask([group]) & allowed:
                    summed[(team, site, group)] = summed.get((team, site, group), 0) + value
            matching = [f for f in in_bucket if groups_mask([f.population_group]) & allowed]
            if not matching:
                assert summed == {}
                continue
            first = min(matching, key=lambda f: (f.first_occurred_on, f.first_record_id))
            assert summed == {(first.team_id, first.site_id, first.population_group): 1}


def test_one_group_is_one_cell_per_bucket_and_two_groups_two() -> None:
    refugee = PersonFact("2016-02", "t1", "s1", "refugee", date(2016, 2, 3), "a")
    migrant = PersonFact("2016-05", "t2", "s2", "migrant", date(2016, 5, 1), "b")
    assert person_cells("people_consulted", [refugee]) == {
        ("people_consulted", "year", 0, "2016-01", "t1", "s1", "refugee"): 1,
        ("people_consulted", "quarter", 0, "2016-01", "t1", "s1", "refugee"): 1,
        ("people_consulted", "month", 0, "2016-02", "t1", "s1", "refugee"): 1,
    }
    yearly = {key[2:]: value for key, value in person_cells("people_consulted", [migrant, refugee]).items()
              if key[1] == "year"}
    # Counted at the refugee record; for "migrants" alone at the migrant record, whose cell says a
    # refugee record came first.
    assert yearly == {(0, "2016-01", "t1", "s1", "refugee"): 1,
                      (GROUP_BITS["refugee"], "2016-01", "t2", "s2", "migrant"): 1}


def test_a_group_filter_reads_every_earlier_set_sharing_none_of_its_groups() -> None:
    refugee, migrant = GROUP_BITS["refugee"], GROUP_BITS["migrant"]
    read = groups_before_none_of(refugee | migrant)
    assert 0 in read and GROUP_BITS["idp"] in read and OTHER_BIT | GROUP_BITS["idp"] in read
    assert not any(mask & (refugee | migrant) for mask in read)
    assert len(read) == 2 ** (len(GROUP_BITS) + 1 - 2)


def _routable_query(data: st.DataObject) -> tuple[str, list[str], dict[str, list[object]], date | None, date | None]:
    """A query the distinct cells answer: place/group/time breakdowns, country and group filters,
    whole buckets."""
    indicator = data.draw(st.sampled_from(["people_consulted", "hygiene_kit_recipients"]))
    group_by = data.draw(st.lists(st.sampled_from(["area", "site", "team", "site_type", "population_group",
                                                   "country", "year", "quarter", "month"]),
                                  max_size=2, unique=True))
    filters: dict[str, list[object]] = {}
    if data.draw(st.booleans()):
        filters["population_group"] = data.draw(st.lists(st.sampled_from(["refugee", "migrant", "idp"]),
                                                         min_size=1, max_size=2, unique=True))
    if data.draw(st.booleans()):
        filters["country"] = ["LY"]
    period = next((t for t in ("month", "quarter", "year") if t in group_by), "year")
    if period == "year" and data.draw(st.booleans()):
        filters["year"] = [data.draw(st.sampled_from([2016, 2017]))]
    spans = {"year": [(None, None), (date(2016, 1, 1), date(2016, 12, 31)), (date(2016, 1, 1), date(2017, 12, 31))],
             "quarter": [(None, None), (date(2016, 4, 1), date(2016, 9, 30)), (date(2016, 10, 1), None)],
             "month": [(None, None), (date(2016, 2, 1), date(2016, 2, 29)), (date(2016, 3, 1), date(2017, 1, 31))]}
    date_from, date_to = data.draw(st.sampled_from(spans[period]))
    return indicator, group_by, filters, date_from, date_to


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_queries_read_from_the_distinct_cells_match_a_brute_force_count(session: Session,
                                                                          data: st.DataObject) -> None:
    ref = load_reference(session)
    nested = session.begin_nested()
    try:
        current = {}
        for _ in range(data.draw(st.integers(1, 14), label="creates")):
            state = data.draw(new_record())
            if state.id not in current:
                current[state.id] = push(session, None, state)
        for _ in range(data.draw(st.integers(0, 10), label="corrections")):
            before = current[data.draw(st.sampled_from(sorted(current)))]
            if before.status is not RecordStatus.VOIDED:
                current[before.id] = push(session, before, data.draw(correction(before)))
        for _ in range(4):
            indicator, group_by, filters, date_from, date_to = _routable_query(data)
            span = query._span(date_from, date_to)
            assert query._distinct_cells_period(group_by, filters, span) is not None  # the cells answer
            result = aggregate(session, indicator, group_by, filters, date_from, date_to)
            expected_rows, expected_total = brute_force(list(current.values()), ref, indicator, group_by, filters,
                                                        date_from, date_to)
            context = (indicator, group_by, filters, date_from, date_to)
            assert {tuple(row[g] for g in group_by): row["value"] for row in result.rows} == expected_rows, context
            assert result.total == expected_total, context
        assert verify.verify(session) == []
    finally:
        nested.rollback()


def test_filters_the_cells_cannot_answer_read_the_facts(session: Session) -> None:
    span = query._span(date(2016, 1, 1), date(2016, 12, 31))
    assert query._distinct_cells_period(["area"], {"country": ["LY"], "population_group": ["idp"]}, span) == "year"
    assert query._distinct_cells_period(["area", "month"], {}, span) == "month"
    # A place filter, a person's code, a finer time than the bucket, a part-month or a part-year.
    assert query._distinct_cells_period([], {"area": ["ly-tripoli"]}, span) is None
    assert query._distinct_cells_period(["sex"], {}, span) is None
    assert query._distinct_cells_period([], {"month": ["2016-02"]}, span) is None
    assert query._distinct_cells_period([], {}, query._span(date(2016, 1, 1), date(2016, 6, 30))) is None
    assert query._distinct_cells_period(["month"], {}, query._span(date(2016, 1, 2), date(2016, 6, 30))) is None


def test_a_person_moving_group_counts_where_the_filter_puts_them(session: Session) -> None:
    push(session, None, consultation("p9", date(2016, 2, 1), population_group="migrant"))
    push(session, None, consultation("p9", date(2016, 5, 1), population_group="refugee"))
    year = (date(2016, 1, 1), date(2016, 12, 31))

    def by_group(groups: list[str] | None) -> dict[str, int]:
        filters = {"population_group": groups} if groups else {}
        rows = aggregate(session, "people_consulted", ["population_group"], filters, *year).rows
        return {row["population_group"]: row["value"] for row in rows}

    assert by_group(None) == {"migrant": 1}
    assert by_group(["refugee"]) == {"refugee": 1}
    assert by_group(["refugee", "migrant"]) == {"migrant": 1}


def test_migration_fills_the_distinct_cells_from_the_facts(make_database_url, engine_name: str) -> None:
    url = make_database_url(engine_name)
    app: Flask = seeded_app(url)
    with app.app_context():
        for index in range(40):
            push(db.session, None, consultation(f"p{index % 7}", date(2016, 1, 1) + timedelta(days=index * 9),
                                                population_group=["refugee", "migrant", "idp"][index % 3]))
        db.session.commit()
        written = expected_distinct_cells(db.session, "people_consulted")
        assert written and db.session.scalar(select(func.count()).select_from(RollupDistinctCell)) > 0
        db.session.remove()
        db.engine.dispose()
    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.downgrade(cfg, "0010")
    command.upgrade(cfg, "head")
    with app.app_context():
        assert verify.verify(db.session) == []
        assert expected_distinct_cells(db.session, "people_consulted") == written
        db.session.execute(delete(RollupDistinctCell.__table__))
        assert any(d.table == "rollup_distinct_cells" for d in verify.verify(db.session))
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()

