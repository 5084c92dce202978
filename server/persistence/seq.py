"""The single server change counter behind every `seq`.

`UPDATE ... RETURNING` takes the counter row's lock until the transaction ends, so two writers
can never commit out of seq order: a pull cursor handed out at seq N never misses a change that
commits later with a seq below N.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from server.models.sync import COUNTER_NAME
from server.models.sync import RESERVE_SEQS as _RESERVE


def reserve_seqs(session: Session, count: int = 1) -> range:
    """Reserve `count` consecutive seqs, returned as a range."""
    if count < 1:
        raise ValueError("count must be at least 1")
    last = session.execute(_RESERVE, {"n": count, "name": COUNTER_NAME}).scalar_one()
    return range(last - count + 1, last + 1)


def next_seq(session: Session) -> int:
    return reserve_seqs(session, 1)[0]


def current_seq(session: Session) -> int:
    return int(
        session.execute(text("SELECT value FROM seq_counter WHERE name = :name"), {"name": COUNTER_NAME}).scalar_one()
    )
