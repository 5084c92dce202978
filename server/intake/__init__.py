"""Everything that writes records, around one write envelope (server/intake/envelope.py).

Each intake is a thin translation of its wire format onto the envelope, which holds the only
implementation of the guarantees every write has (docs/reliability.md "The write envelope"). The
intakes are declared here, once: the envelope's test suite (tests/server/intake/test_write_envelope.py)
runs every guarantee over every intake listed, so a new intake is covered by adding it here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Intake:
    """What an intake is, as the envelope sees it."""

    name: str
    # The table where the intake keeps its answer per idempotency key, replayed on a resend; None
    # where the item written is its own idempotency (a coordinator's resolution closes an open item
    # once: a resend finds it closed).
    ledger: str | None
    # A tablet is the author: a revoked one is refused (bounded quarantine, nothing else kept,
    # throttled) and each write touches its device row. A coordinator's resolution writes as the
    # quarantined item's device, which may well be revoked: neither applies.
    device_writes: bool


PUSH = Intake("push", ledger="sync_batches", device_writes=True)
OPENROSA = Intake("openrosa", ledger="openrosa_submissions", device_writes=True)
RESOLUTION = Intake("resolution", ledger=None, device_writes=False)

INTAKES: tuple[Intake, ...] = (PUSH, OPENROSA, RESOLUTION)
