"""Sliding-window limits on failed attempts (logins, enrollment codes), stored in `auth_failures`.

The table is shared by every worker process, so an attacker cannot multiply their attempts by
spreading them over gunicorn workers. Only failures are recorded; a caller checks `retry_after`
before doing the expensive or secret-revealing work and answers 429 when it returns seconds.
The window slides: once old failures age out, the key may try again, so a correct password is
never locked out for longer than one window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import AuthFailure

# Failures older than this are deleted; every window must fit in it.
RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class Limit:
    """At most `attempts` failures per `key` within `window`."""

    key: str
    attempts: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.attempts < 1 or not timedelta(0) < self.window <= RETENTION:
            raise ValueError(f"unusable limit {self}")


def retry_after(session: Session, limits: Iterable[Limit], now: datetime) -> int | None:
    """Seconds until every limit allows another attempt, or None if none is exhausted."""
    waits: list[float] = []
    for limit in limits:
        # The key is blocked while `attempts` failures lie in the window; it is free again when the
        # `attempts`-th newest of them leaves the window.
        blocking = session.scalar(
            select(AuthFailure.at)
            .where(AuthFailure.key == limit.key, AuthFailure.at > now - limit.window)
            .order_by(AuthFailure.at.desc())
            .offset(limit.attempts - 1)
            .limit(1)
        )
        if blocking is not None:
            waits.append((blocking + limit.window - now).total_seconds())
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def record_failure(session: Session, limits: Iterable[Limit], now: datetime) -> None:
    """Count one failure against every limit's key, and forget failures no window still needs."""
    for limit in limits:
        session.add(AuthFailure(key=limit.key, at=now))
    # Pruning on write keeps the table small without a scheduled job (the `at` index makes it cheap).
    session.execute(delete(AuthFailure).where(AuthFailure.at < now - RETENTION))
    session.flush()


def rate_limited_error(seconds: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"Too many failed attempts; try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
    )
