"""UTC conversions, written once for every layer (the engine, the wire schemas, the server).

The engine works in aware UTC datetimes; the database holds naive UTC (both engines agree on it);
the wire writes UTC with a `Z`. A naive datetime is read as UTC: device clocks may send local time
without an offset, which is within the engine's 24 h clock tolerance of any real offset anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime


def aware_utc(moment: datetime) -> datetime:
    """`moment` with a timezone: a naive one is taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def naive_utc(moment: datetime) -> datetime:
    """`moment` as the database holds it: naive UTC (an aware one is converted first)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def isoformat_z(moment: datetime | None) -> str | None:
    """api.md's wire form, `2026-03-02T09:58:11Z` (None stays None)."""
    if moment is None:
        return None
    return naive_utc(moment).isoformat(timespec="seconds") + "Z"
