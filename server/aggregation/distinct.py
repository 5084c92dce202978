"""Distinct people as counts per cell: what `rollup_distinct_cells` holds, as a function of the facts.

domain.md: a person counts once per bucket (year, quarter or month), attributed to their earliest
matching record of the bucket; filters apply first. Read from the person facts that costs in
proportion to the people of the bucket. These cells make the common questions (grouped by place,
population group and time, filtered by country, population group and whole buckets) cost in
proportion to the cells instead, which stay few however many people there are.

Attribution without a filter is one cell per person and bucket: where their earliest record is.
A population-group filter can move it (a person first seen as a migrant, later as a refugee, counts
for "refugees" at their first refugee record), so each person-bucket is stored in a form any such
filter can be read from exactly:

For each population group g the person has in the bucket, one +1 at loc(g), where their earliest
record of that group is (team, site, group), keyed by `earlier`: the groups whose earliest record
comes before it. A filter "group in V" counts the person at loc(g) exactly when g is in V and none
of the groups before it is, that is when g is the first of their groups in V: `g in V and earlier
& V == 0`. Without a filter only the first group counts: `earlier == 0`, one row per person.
Most people have one group per bucket, so one cell, with `earlier` 0; k groups make k cells.

A record without a beneficiary_ref is a person of its own: one +1 cell with `earlier` 0 in each
of its buckets. So the cells count everyone, and a query reads them alone.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from sync.domain import PopulationGroup

# A bit per population group; any other value (none, or one no longer in the list) shares one
# more, which no filter names, so such records count only when the group is not filtered on.
GROUP_BITS: dict[str, int] = {group.value: 1 << position for position, group in enumerate(PopulationGroup)}
OTHER_BIT = 1 << len(PopulationGroup)
ALL_BITS = OTHER_BIT | sum(GROUP_BITS.values())

PERIODS: tuple[str, ...] = ("year", "quarter", "month")

# (indicator, period, earlier_groups, start_month, team_id, site_id, population_group)
DistinctKey = tuple[str, str, int, str, str, str, str]


def groups_mask(groups: Iterable[str]) -> int:
    """The bits of these population groups, as a filter names them."""
    mask = 0
    for group in groups:
        mask |= GROUP_BITS.get(group, OTHER_BIT)
    return mask


def start_month(period: str, month: str) -> str:
    """The first month of the bucket of `period` that `month` ("2016-05") falls in."""
    if period == "year":
        return month[:4] + "-01"
    if period == "quarter":
        number = int(month[5:7])
        return f"{month[:4]}-{(number - 1) // 3 * 3 + 1:02d}"
    return month


@functools.lru_cache(maxsize=4096)
def _buckets(month: str) -> tuple[tuple[str, str], ...]:
    """(period, start month) of each bucket `month` falls in, in PERIODS' order. Cached: a push
    attributes thousands of facts over a few dozen months, and slicing and formatting the same
    month three times per fact was a tenth of `person_cells`."""
    return tuple((period, start_month(period, month)) for period in PERIODS)


class PersonFact(NamedTuple):
    """What attribution reads of one person fact: its month, place and group, and its earliest record.

    A named tuple (ordered, hashable, compared field by field as a frozen dataclass with order=True
    would be): a push of 500 returning people builds one per stored fact of each, and a frozen
    dataclass's __init__ was a fifth of the distinct cells' time."""

    month: str
    team_id: str
    site_id: str
    population_group: str
    first_occurred_on: date
    first_record_id: str


def person_cells(indicator: str, facts: Iterable[PersonFact]) -> dict[DistinctKey, int]:
    """The cells one person (all their facts of one indicator) adds up to, in every period."""
    # (period, start month) -> group bit -> (earliest (day, record id), team, site, group)
    earliest: dict[tuple[str, str], dict[int, tuple[tuple[date, str], str, str, str]]] = defaultdict(dict)
    for fact in facts:
        first = (fact.first_occurred_on, fact.first_record_id)
        bit = GROUP_BITS.get(fact.population_group, OTHER_BIT)
        for bucket in _buckets(fact.month):
            by_group = earliest[bucket]
            current = by_group.get(bit)
            if current is None or first < current[0]:
                by_group[bit] = (first, fact.team_id, fact.site_id, fact.population_group)
    cells: dict[DistinctKey, int] = defaultdict(int)
    for (period, start), by_group in earliest.items():
        earlier = 0
        for bit, (_, team_id, site_id, group) in sorted(by_group.items(), key=lambda item: item[1][0]):
            cells[(indicator, period, earlier, start, team_id, site_id, group)] += 1
            earlier |= bit
    return cells


def groups_before_none_of(groups: int) -> list[int]:
    """Every `earlier` a cell may have to count under a filter on `groups`: the sets of groups
    that share none with it (each subset of the other bits)."""
    others = ALL_BITS & ~groups
    masks, subset = [], others
    while True:  # every submask of `others`, itself and 0 included
        masks.append(subset)
        if subset == 0:
            return sorted(masks)
        subset = (subset - 1) & others


def own_person_cells(indicator: str, month: str, team_id: str, site_id: str, group: str,
                     count: int) -> dict[DistinctKey, int]:
    """What `count` records without a beneficiary_ref add: each is a person of its own (domain.md),
    first and only in every bucket it falls in."""
    return {(indicator, period, 0, start_month(period, month), team_id, site_id, group): count
            for period in PERIODS}


def add_cells(total: dict[DistinctKey, int], cells: dict[DistinctKey, int], sign: int = 1) -> None:
    for key, value in cells.items():
        total[key] += sign * value
