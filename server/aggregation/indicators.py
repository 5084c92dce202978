"""The indicator registry (domain.md "Indicators"), as the aggregation reads it.

Indicators are declared with their record type in sync/record_types.py; this module names what the
rollups, the queries, verify and the API read of them.
"""

from __future__ import annotations

import functools

from sync.record_types import ALL_DIMENSIONS, INDICATORS, PERSON_DIMENSIONS, PLACE_TIME_DIMENSIONS, Indicator, Measure

__all__ = [
    "ALL_DIMENSIONS", "BY_CODE", "COMMON_DIMENSIONS", "INDICATORS", "PLACE_DIMENSIONS", "TIME_DIMENSIONS",
    "Indicator", "Measure", "for_entity", "get",
]

# Dimensions every record type has (place, time) and the person ones most do, in registry order.
COMMON_DIMENSIONS: tuple[str, ...] = (*PLACE_TIME_DIMENSIONS, *(dim.name for dim in PERSON_DIMENSIONS))

# Dimensions answerable from the coarse "place" cells (rollups.py): most coordinator questions and
# every public statement use only these, and there are few such cells per month whatever the volume.
PLACE_DIMENSIONS: frozenset[str] = frozenset(
    {"country", "area", "site", "site_type", "team", "year", "quarter", "month", "population_group"}
)

# Finest first: a distinct count is taken per bucket of the finest time dimension grouped by.
TIME_DIMENSIONS: tuple[str, ...] = ("month", "quarter", "year")

BY_CODE: dict[str, Indicator] = {indicator.code: indicator for indicator in INDICATORS}


def get(code: str) -> Indicator | None:
    return BY_CODE.get(code)


@functools.cache
def for_entity(entity: str) -> tuple[Indicator, ...]:
    return tuple(indicator for indicator in INDICATORS if indicator.entity.value == entity)
