"""Change events: what the unit of work tells the rest of the application about records.

The store publishes each batch's applied record changes (created, corrected, voided) to the
subscribers registered at start-up, inside the transaction that writes the records, after the
records themselves are written. A subscriber writes its own rows in the same transaction (rollups,
a webhook outbox), so they commit or roll back with the records: nothing is published for a batch
that does not commit, and a duplicate resend, which changes no record, publishes nothing.

The core never imports its listeners (Kinto's `ResourceChanged` events are the model): each
listener's package registers itself from the app factory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sync.domain import DeviceContext, RecordState, RecordStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from server.persistence.reference_cache import ReferenceSnapshot
    from server.persistence.staged import StagedWrites


class ChangeKind(StrEnum):
    CREATED = "record.created"
    CORRECTED = "record.corrected"
    VOIDED = "record.voided"


@dataclass(frozen=True)
class RecordChange:
    """One applied change: the record before (None for a create) and after, as the engine made them.
    A record changed twice in one batch is two changes, in the order they were applied."""

    before: RecordState | None
    after: RecordState

    @property
    def kind(self) -> ChangeKind:
        if self.before is None:
            return ChangeKind.CREATED
        if self.after.status is RecordStatus.VOIDED and self.before.status is not RecordStatus.VOIDED:
            return ChangeKind.VOIDED
        return ChangeKind.CORRECTED


@dataclass(frozen=True)
class ChangeBatch:
    """A batch's changes and what every subscriber may need to read them without a lookup: the
    writing device's scope (its team and country) and the reference data the batch was checked
    against. `changes` carry their final seqs. `staged`: where a subscriber may stage rows it
    only inserts or upserts (server/persistence/staged.py), written with the write's tail in one
    statement on PostgreSQL; None: write them now."""

    session: Session
    device: DeviceContext
    reference: ReferenceSnapshot
    changes: Sequence[RecordChange]
    staged: StagedWrites | None = None


Subscriber = Callable[[ChangeBatch], None]

_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Register a subscriber (from an `init_app`); registering the same one twice keeps one, so
    every app the process builds (tests build many) shares one list."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def subscribers() -> tuple[Subscriber, ...]:
    return tuple(_subscribers)


def publish(batch: ChangeBatch) -> None:
    """Hand the batch to every subscriber, in registration order, in the caller's transaction. An
    exception propagates: the transaction rolls back and the batch is not acknowledged."""
    if not batch.changes:
        return
    for subscriber in _subscribers:
        subscriber(batch)
