"""Growing delays after failed attempts (logins, enrollment codes), stored in `auth_failures`.

The table is shared by every worker process, so an attacker cannot multiply their attempts by
spreading them over gunicorn workers. Only failures are recorded; a caller checks `retry_after`
before doing the expensive or secret-revealing work and answers 429 with `Retry-After` when it
returns seconds.

Back off, never lock: after `free` failures under one key, each further attempt must wait a delay
that doubles with every failure (up to `cap`) counted from the *last* failure. A 429 records
nothing, so a guesser cannot push the wait further out, and whoever shares a key with a guesser
waits at most `cap` after the guesser's last try, not a fixed lock-out. Keys are chosen so that
strangers rarely share one: a login is limited per (username, client address) first, with looser
per-username and per-address keys behind it (see server/operations/accounts.py).

The client address is the peer address, or with `TRUSTED_PROXIES = N` (N reverse proxies in
front of the app, each appending to X-Forwarded-For) the N-th address from the right of
X-Forwarded-For, as werkzeug's ProxyFix counts: what a client writes in the header itself lies to
the left of that and is never believed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from server.models import AuthFailure
from server.web.errors import ApiError

# Failures older than this are deleted; every window must fit in it.
RETENTION = timedelta(hours=24)
_KEY_MAX = 200  # auth_failures.key


@dataclass(frozen=True)
class Backoff:
    """Under `key`, `free` failures within `window` cost nothing; then each one doubles the wait.

    After n >= free failures the next attempt may come `base * 2**(n - free)` (at most `cap`) after
    the last of them. Failures older than `window` are forgotten.
    """

    key: str
    free: int
    base: timedelta
    cap: timedelta
    window: timedelta

    def __post_init__(self) -> None:
        if self.free < 1 or not timedelta(0) < self.base <= self.cap or not timedelta(0) < self.window <= RETENTION:
            raise ValueError(f"unusable backoff {self}")

    def delay(self, failures: int) -> timedelta:
        if failures < self.free:
            return timedelta(0)
        # min() before multiplying: 2**large would overflow timedelta.
        return min(self.cap, self.base * 2 ** min(failures - self.free, 32))


def stored_key(key: str) -> str:
    # Usernames are bounded (64) and addresses normalised, but a key must never fail the insert.
    if len(key) <= _KEY_MAX:
        return key
    return key[:100] + "#" + hashlib.sha256(key.encode()).hexdigest()


def retry_after(session: Session, limits: Iterable[Backoff], now: datetime) -> int | None:
    """Seconds until every limit allows another attempt, or None if none asks to wait."""
    waits: list[float] = []
    for limit in limits:
        count, last = session.execute(
            select(func.count(AuthFailure.id), func.max(AuthFailure.at)).where(
                AuthFailure.key == stored_key(limit.key), AuthFailure.at > now - limit.window
            )
        ).one()
        # Fewer than `free` failures ask for no wait, even when another request recorded one a moment
        # after `now` was read (it waited for the database in between): that is no reason to refuse.
        if last is not None and count >= limit.free:
            wait = (last + limit.delay(count) - now).total_seconds()
            if wait > 0:
                waits.append(wait)
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def record_failure(session: Session, limits: Iterable[Backoff], now: datetime) -> None:
    """Count one failure against every limit's key, and forget failures no window still needs."""
    for limit in limits:
        session.add(AuthFailure(key=stored_key(limit.key), at=now))
    # Pruning on write keeps the table small without a scheduled job (the `at` index makes it cheap).
    session.execute(delete(AuthFailure).where(AuthFailure.at < now - RETENTION))
    session.flush()


def forget(session: Session, keys: Iterable[str], prefixes: Iterable[str] = ()) -> int:
    """Drop the failures recorded under `keys` and under any key starting with one of `prefixes`."""
    conditions = [AuthFailure.key.in_([stored_key(key) for key in keys])]
    conditions += [AuthFailure.key.startswith(prefix, autoescape=True) for prefix in prefixes]
    result = session.execute(delete(AuthFailure).where(or_(*conditions)).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def rate_limited_error(seconds: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"Too many failed attempts; try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
    )


# --- the client's address ----------------------------------------------------------------------


def client_address(remote_addr: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The address to limit by: the peer, or what the `trusted_proxies` proxies in front say it is.

    With N trusted proxies the N-th X-Forwarded-For entry from the right is the client as the
    outermost trusted proxy saw it. Too few entries (a request that bypassed the proxies) falls
    back to the peer address, as ProxyFix does.
    """
    chosen = remote_addr
    if trusted_proxies > 0 and forwarded_for:
        entries = [entry.strip() for entry in forwarded_for.split(",")]
        if len(entries) >= trusted_proxies:
            chosen = entries[-trusted_proxies]
    return _normalise_address(chosen)


def _normalise_address(value: str | None) -> str:
    if not value:
        return "unknown"
    try:
        address = ipaddress.ip_address(value.strip("[]"))
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
            # One IPv6 client usually holds a whole /64: counting per address would give it 2**64 tries.
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else str(address)
    except ValueError:
        # Not an address (a proxy passing something odd along): a bounded key of its own.
        return "other:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
