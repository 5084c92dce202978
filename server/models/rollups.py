"""Aggregate rollups: what `server.aggregation` maintains so a query costs per group, not per record.

Key columns use '' (never NULL) for "not applicable", so the unique constraints that the upserts
rely on treat two such cells as the same cell on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db

# The dimension columns a cell (and a person fact) is keyed by, besides indicator and month.
CELL_DIMENSIONS: tuple[str, ...] = (
    "team_id", "site_id", "population_group", "sex", "age_band", "service", "visit", "item", "activity",
    "topic", "participant_type",
)


class _DimensionColumns:
    """Columns shared by cells and person facts. `year` and `quarter` follow from `month`; they are
    stored so queries filter and group without date functions that differ between engines."""

    month: Mapped[str] = mapped_column(String(7))  # "2016-01"
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[str] = mapped_column(String(6))  # "2016Q1"
    team_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    population_group: Mapped[str] = mapped_column(String(20), default="")
    sex: Mapped[str] = mapped_column(String(1), default="")
    age_band: Mapped[str] = mapped_column(String(5), default="")
    service: Mapped[str] = mapped_column(String(64), default="")
    visit: Mapped[str] = mapped_column(String(20), default="")
    item: Mapped[str] = mapped_column(String(64), default="")
    activity: Mapped[str] = mapped_column(String(30), default="")
    topic: Mapped[str] = mapped_column(String(20), default="")  # a training's (an outreach's is free text)
    participant_type: Mapped[str] = mapped_column(String(20), default="")


class RollupCell(_DimensionColumns, db.Model):
    """The value of one indicator for one month and one combination of dimension codes.

    For distinct-people indicators a cell counts only the records without a beneficiary_ref (each
    is a person of its own); people with one are in `RollupPersonFact`.
    """

    __tablename__ = "rollup_cells"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    indicator: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        UniqueConstraint("indicator", "month", *CELL_DIMENSIONS, name="uq_rollup_cells_key"),
    )


class RollupPersonFact(_DimensionColumns, db.Model):
    """One person (beneficiary_ref within a country) in one month with one combination of
    dimension codes, and the earliest of their active records with that combination.

    Rebuilt for a person-month from the records table whenever one of its records changes, so the
    earliest record stays exact when it is corrected or voided.
    """

    __tablename__ = "rollup_person_facts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    indicator: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    beneficiary_ref: Mapped[str] = mapped_column(String(64))
    first_occurred_on: Mapped[date] = mapped_column(Date)
    first_record_id: Mapped[str] = mapped_column(String(36))
    n_records: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("indicator", "country", "beneficiary_ref", "month", *CELL_DIMENSIONS,
                         name="uq_rollup_person_facts_key"),
        Index("ix_rollup_person_facts_indicator_month", "indicator", "month"),
    )


class RollupPersonFirst(db.Model):
    """Of one person (beneficiary_ref within a country) in one month and population group, the
    earliest of their person facts: its (day, record id) and its place.

    All that distinct-cell attribution (server/aggregation/distinct.py) reads of a person's facts: a
    push's recount of a returning person's cells reads these rows, at most months x groups per
    person, instead of ranking their facts (one per combination of sex, service, visit...) in the
    writer's transaction. A function of `RollupPersonFact`: changed with it, verified against it.
    """

    __tablename__ = "rollup_person_firsts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    indicator: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    beneficiary_ref: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7))  # "2016-01"
    population_group: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    first_occurred_on: Mapped[date] = mapped_column(Date)
    first_record_id: Mapped[str] = mapped_column(String(36))

    __table_args__ = (
        # Also the index of every read: a person's months by its prefix (indicator, country, ref, month).
        UniqueConstraint("indicator", "country", "beneficiary_ref", "month", "population_group",
                         name="uq_rollup_person_firsts_key"),
    )


class RollupDistinctCell(db.Model):
    """Distinct people counted per bucket and attributed to their earliest record, in a form any
    population-group filter can be read from (server/aggregation/distinct.py); a record without a
    beneficiary_ref is a person of its own.

    A function of `RollupPersonFact` and the distinct indicators' place cells: changed with them, in
    the same transaction, and verified against them.
    """

    __tablename__ = "rollup_distinct_cells"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    indicator: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))  # "year", "quarter" or "month"
    start_month: Mapped[str] = mapped_column(String(7))  # the bucket's first month: "2016-01", "2016-04"
    # What a query filters and groups time by: `quarter` is '' for a year, `month` '' unless a month.
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[str] = mapped_column(String(6))
    month: Mapped[str] = mapped_column(String(7))
    team_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    population_group: Mapped[str] = mapped_column(String(20))
    # The population groups (bits) the people of this cell had before this one in the bucket: 0 for
    # a person's first group, so that a query without a group filter reads only those.
    earlier_groups: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("indicator", "period", "earlier_groups", "start_month", "team_id", "site_id",
                         "population_group", name="uq_rollup_distinct_cells_key"),
    )
