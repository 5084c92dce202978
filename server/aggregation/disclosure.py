"""Disclosure control for published counts: primary and complementary suppression.

Primary suppression: a count from 1 to `threshold - 1` is never published (domain.md). 0 is.

Complementary suppression (api.md v1.1, public `by=area`): a statement publishes its total and
every area's count, and the areas add up to the total. Whoever reads the page therefore knows the
sum of the suppressed areas: S = total - sum(published areas). Withholding cells only protects
them if that one equation cannot be solved for any of them, and if S itself is not a small count.

The rule (`protect`), with k the number of suppressed areas:
1. Primary: every area counting 1..9 is suppressed; so is the total if it counts 1..9.
2. Total suppressed (it is 1..9): every nonzero area is suppressed; zeros stay published as 0, as
   api.md says. With the total unknown there is no equation, but a published 0 tells the reader
   that the remaining k cells are each >= 1 and add up to at most 9, which pins them (each is 1)
   exactly when k is 9: only then are the zeros hidden too.
3. Total published: while some area is suppressed and the group is not safe, also suppress the
   smallest nonzero area still published (ties: the earlier one, i.e. name order). The group is
   safe when k >= 2 (one unknown in one equation is solved by subtraction), S >= 10 (S is itself
   a published count, derivable, so it obeys the same threshold) and S > k (suppressed cells are
   known to be >= 1 because zeros are published: with S == k every cell would be 1). If no nonzero
   area is left to add, every area is suppressed, zeros included (then cells are only known to be
   >= 0, and with k >= 2 none is pinned).

Zeros are only ever suppressed wholesale (rules 2 and 3's last resorts), so a reader who sees a
published number anywhere in the statement may assume every suppressed cell is >= 1: the rule is
built against that reader. Out of scope: a reader who also reasons about *which* cell was the primary
one and which the complement (e.g. "the complement is >= 10 and no larger than the smallest
published area"); standard tools (tau-argus, sdcTable) make the same assumption.

Pure functions over integers; tests/server/aggregation/test_disclosure.py solves for every suppressed cell
from the published numbers over thousands of random statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

THRESHOLD = 10


def primary(count: int, threshold: int = THRESHOLD) -> bool:
    """A count from 1 to threshold - 1 is withheld."""
    return 0 < count < threshold


@dataclass(frozen=True)
class Protected:
    """Which numbers of one statement are withheld: the total, and each cell in input order."""

    total: bool
    cells: list[bool]


def _safe(group_sum: int, size: int, threshold: int) -> bool:
    return size == 0 or (size >= 2 and group_sum >= threshold and group_sum > size)


def protect(total: int, cells: Sequence[int], threshold: int = THRESHOLD) -> Protected:
    """Apply primary and complementary suppression to a total and the cells that add up to it."""
    if any(cell < 0 for cell in cells) or total < 0:
        raise ValueError("counts are never negative")
    if primary(total, threshold):
        hide_zeros = sum(1 for cell in cells if cell) >= threshold - 1
        return Protected(total=True, cells=[bool(cell) or hide_zeros for cell in cells])
    suppressed = [primary(cell, threshold) for cell in cells]
    # Candidates for complementary suppression: published nonzero cells, smallest first.
    candidates = sorted((cell, index) for index, cell in enumerate(cells) if cell and not suppressed[index])
    while True:
        group = [cells[index] for index, hidden in enumerate(suppressed) if hidden]
        if _safe(sum(group), len(group), threshold):
            return Protected(total=False, cells=suppressed)
        if not candidates:
            return Protected(total=False, cells=[True] * len(cells))
        _, index = candidates.pop(0)
        suppressed[index] = True
