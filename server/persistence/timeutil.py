"""Server time. Stored as naive UTC (both engines agree on it); written on the wire with `Z`.

The conversions are written once, in `sync/utc.py` (the engine and the wire schemas, which may not
import the server, use them too); the server reads them here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sync.utc import aware_utc, isoformat_z, naive_utc

__all__ = ["aware_utc", "isoformat_z", "naive_utc", "utcnow"]


def utcnow() -> datetime:
    """Now, as the database holds it (naive UTC)."""
    return naive_utc(datetime.now(UTC))
