"""Complementary suppression (server/aggregation/disclosure.py), attacked by the reader it protects against.

The reader sees one statement as published: the total (or `null`) and every area's value (or
`null`), and knows that the areas add up to the total, that a suppressed total is 1..9, and that
counts are never negative; when any area is published (so the zeros were not hidden wholesale),
that every suppressed area is >= 1. Two independent solvers work out the range each suppressed
area can still take: an exact interval solver (one equation with box bounds) over thousands of
random statements, and a brute-force enumeration of every consistent dataset over small ones. No
suppressed area may be pinned to one value, and the suppressed group's sum, which the reader
always knows when the total is published, may not itself be a count from 1 to 9.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.aggregation.disclosure import THRESHOLD, protect

# The checker's run size, quoted in the notes: EXAMPLES random statements for the interval solver,
# SMALL_EXAMPLES for the brute-force one.
EXAMPLES = 3000
SMALL_EXAMPLES = 600


@dataclass(frozen=True)
class View:
    """What a reader of the page sees of one statement."""

    total: int | None
    cells: list[int | None]


def publish(total: int, cells: list[int]) -> View:
    shown = protect(total, cells)
    hidden = zip(cells, shown.cells, strict=True)
    return View(None if shown.total else total, [None if hide else cell for cell, hide in hidden])


def lower_bound(view: View) -> int:
    # Zeros are hidden only wholesale: one published area tells the reader no zero was hidden.
    return 1 if any(cell is not None for cell in view.cells) else 0


def intervals(view: View) -> dict[int, tuple[int, int]]:
    """For each suppressed area, the least and greatest value consistent with what is published."""
    hidden = [index for index, cell in enumerate(view.cells) if cell is None]
    published = sum(cell for cell in view.cells if cell is not None)
    low = lower_bound(view)
    # The suppressed areas add up to S, with S known exactly or (total suppressed: 1..9) in a range.
    if view.total is not None:
        s_min = s_max = view.total - published
    else:
        s_min, s_max = 1 - published, THRESHOLD - 1 - published
    ranges = {}
    for index in hidden:
        others = len(hidden) - 1
        # Other cells have no upper bound, so only the lone unknown gets a raised lower bound.
        lo = max(low, s_min) if others == 0 else low
        hi = s_max - low * others
        ranges[index] = (lo, hi)
    return ranges


def enumerate_ranges(view: View, ceiling: int) -> dict[int, set[int]]:
    """Brute force: every assignment of the suppressed areas (0..ceiling) the reader cannot rule out."""
    hidden = [index for index, cell in enumerate(view.cells) if cell is None]
    published = sum(cell for cell in view.cells if cell is not None)
    low = lower_bound(view)
    seen: dict[int, set[int]] = {index: set() for index in hidden}
    if not hidden:
        return seen
    # The last suppressed area is whatever the others leave: enumerate the others, solve for it.
    for head in itertools.product(range(low, ceiling + 1), repeat=len(hidden) - 1):
        totals = [view.total] if view.total is not None else range(1, THRESHOLD)
        for total in totals:
            last = total - published - sum(head)
            if last < low:
                continue
            for index, value in zip(hidden, (*head, last), strict=True):
                seen[index].add(value)
    return seen


def assert_protected(total: int, cells: list[int], view: View) -> None:
    # Published numbers are true, and every count from 1 to 9 is withheld.
    assert view.total in (None, total)
    for cell, shown in zip(cells, view.cells, strict=True):
        assert shown in (None, cell)
        if 0 < cell < THRESHOLD:
            assert shown is None
    if 0 < total < THRESHOLD:
        assert view.total is None
    for index, (lo, hi) in intervals(view).items():
        assert lo <= cells[index] <= hi, "the solver must bracket the truth"
        assert lo < hi, f"area {index} is pinned to {lo} by {view}"
    if view.total is not None:
        group = view.total - sum(cell for cell in view.cells if cell is not None)
        assert not 0 < group < THRESHOLD, f"the suppressed areas add up to a published small count {group}"


# A statement: up to 9 areas, counts that are often small (the interesting case) and sometimes large.
cell_values = st.one_of(st.integers(0, 12), st.integers(0, 60), st.integers(0, 60_000))
statements = st.lists(cell_values, min_size=1, max_size=9)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements)
def test_no_suppressed_area_can_be_solved_for(cells: list[int]) -> None:
    total = sum(cells)
    assert_protected(total, cells, publish(total, cells))


@settings(max_examples=SMALL_EXAMPLES, deadline=None)
@given(st.lists(st.integers(0, 14), min_size=1, max_size=4))
def test_brute_force_finds_at_least_two_values_for_every_suppressed_area(cells: list[int]) -> None:
    total = sum(cells)
    view = publish(total, cells)
    ceiling = max(total, THRESHOLD)
    for index, values in enumerate_ranges(view, ceiling).items():
        assert cells[index] in values
        assert len(values) >= 2, f"area {index} can only be {values} given {view}"


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        # The case: Tripoli 3 next to Benghazi 48,719. Misrata (20) is the smallest complement.
        ([3, 48_719, 20], [True, False, True]),
        ([3, 48_719], [True, True]),
        ([10, 9], [True, True]),
        # Two primaries adding up to 10 protect each other; to 6 they need a third area.
        ([4, 6, 500], [True, True, False]),
        ([3, 3, 500, 40], [True, True, False, True]),
        ([0, 0, 500], [False, False, False]),
        # Ten areas of 1 (total 10): every cell would be 1; everything is hidden, zeros included.
        ([1] * 10 + [0], [True] * 11),
    ],
)
def test_examples(cells: list[int], expected: list[bool]) -> None:
    assert protect(sum(cells), cells).cells == expected


def test_a_small_total_hides_its_areas_and_publishes_zeros_as_zeros() -> None:
    shown = protect(3, [3, 0, 0])
    assert shown.total is True and shown.cells == [True, False, False]  # api.md: a count of 0 is listed as 0


def test_nine_areas_of_one_hide_the_zeros_too() -> None:
    # Published zeros would tell the reader the nine others are each >= 1 and add up to <= 9: all 1.
    shown = protect(9, [1] * 9 + [0])
    assert shown.total is True and shown.cells == [True] * 10


def test_nothing_is_hidden_when_nothing_is_small() -> None:
    assert protect(48_739, [48_719, 0, 20]).cells == [False, False, False]
