"""The indicator registry (domain.md "Indicators"), as data.

A new indicator is one more `Indicator(...)` in `INDICATORS`: the rollups, the queries, verify and
the API read everything they need from here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from sync.domain import Entity


class Measure(StrEnum):
    COUNT = "count"  # one per active record
    SUM = "sum"  # sum of an integer field of active records
    SUM_REACHED = "sum_reached"  # sum of the `reached` tallies (by sex and age band)
    DISTINCT_PEOPLE = "distinct_people"  # distinct beneficiary_ref per period bucket


# Dimensions every indicator has, in the order the registry lists them.
COMMON_DIMENSIONS: tuple[str, ...] = (
    "country", "area", "site", "site_type", "team", "year", "quarter", "month",
    "population_group", "sex", "age_band",
)

ENTITY_DIMENSIONS: dict[Entity, tuple[str, ...]] = {
    Entity.CONSULTATION: ("service", "visit"),
    Entity.DISTRIBUTION: ("item",),
    Entity.OUTREACH: ("activity",),
}

ALL_DIMENSIONS: tuple[str, ...] = (*COMMON_DIMENSIONS, "service", "visit", "item", "activity")

# Dimensions answerable from the coarse "place" cells (rollups.py): most coordinator questions and
# every public statement use only these, and there are few such cells per month whatever the volume.
PLACE_DIMENSIONS: frozenset[str] = frozenset(
    {"country", "area", "site", "site_type", "team", "year", "quarter", "month", "population_group"}
)

# Finest first: a distinct count is taken per bucket of the finest time dimension grouped by.
TIME_DIMENSIONS: tuple[str, ...] = ("month", "quarter", "year")


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    entity: Entity
    measure: Measure
    field: str | None = None  # the summed field, for Measure.SUM
    item_category: str | None = None  # only distributions of items of this category count

    @property
    def dimensions(self) -> tuple[str, ...]:
        return (*COMMON_DIMENSIONS, *ENTITY_DIMENSIONS[self.entity])

    @property
    def is_distinct(self) -> bool:
        return self.measure is Measure.DISTINCT_PEOPLE

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "label": self.label,
            "entity": self.entity.value,
            "measure": self.measure.value,
            "field": self.field,
            "item_category": self.item_category,
            "dimensions": list(self.dimensions),
        }


INDICATORS: tuple[Indicator, ...] = (
    Indicator("health_consultations", "Health consultations provided", Entity.CONSULTATION, Measure.COUNT),
    Indicator("people_consulted", "People who had a consultation", Entity.CONSULTATION, Measure.DISTINCT_PEOPLE),
    Indicator("hygiene_kits_distributed", "Hygiene kits distributed", Entity.DISTRIBUTION, Measure.SUM,
              field="quantity", item_category="hygiene_kit"),
    Indicator("hygiene_kit_recipients", "People who received a hygiene kit", Entity.DISTRIBUTION,
              Measure.DISTINCT_PEOPLE, item_category="hygiene_kit"),
    Indicator("people_reached_by_chws", "People reached by community health workers", Entity.OUTREACH,
              Measure.SUM_REACHED),
)

BY_CODE: dict[str, Indicator] = {indicator.code: indicator for indicator in INDICATORS}


def get(code: str) -> Indicator | None:
    return BY_CODE.get(code)


@functools.cache
def for_entity(entity: str) -> tuple[Indicator, ...]:
    return tuple(indicator for indicator in INDICATORS if indicator.entity.value == entity)
