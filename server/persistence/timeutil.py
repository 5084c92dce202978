"""Server time. Stored as naive UTC (both engines agree on it); written on the wire with `Z`.

The conversions are written once, in `sync/utc.py` (the engine and the wire schemas, which may not
import the server, use them too); the server reads them here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sync.utc import aware_utc, isoformat_z, naive_utc

__all__ = ["aware_utc", "isoformat_z", "naive_utc", "utc_z_and_offset", "utcnow"]


def utcnow() -> datetime:
    """Now, as the database holds it (naive UTC)."""
    return naive_utc(datetime.now(UTC))


def utc_z_and_offset(text: str) -> tuple[str, int | None]:
    """A device's ISO 8601 time as (UTC with `Z`, the offset it was written with in minutes east of
    UTC, e.g. 120 for `+02:00`; a number, so no spreadsheet reads it as a formula or a time).

    Tablets and ODK Collect send their local offset (`2026-03-02T11:58:11.000+02:00`); a list that
    mixes offsets cannot be sorted or compared by eye or in Excel. A time without an offset is read
    as UTC (as the push engine reads it) and has no offset to report; text that is not a time is
    returned as it is.
    """
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return text, None
    offset = moment.utcoffset()
    return str(isoformat_z(moment)), (int(offset.total_seconds()) // 60 if offset is not None else None)
