"""Batch-level idempotency of pushes (``Idempotency-Key`` = ``batch_id``).

Pure decisions; the server stores batches and maps the outcomes to HTTP:
New -> process, Replay -> stored response + ``Idempotent-Replayed: true``,
KeyReused -> 422, InFlight -> 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class BatchStatus(StrEnum):
    IN_FLIGHT = "in_flight"  # claimed, its transaction not finished
    DONE = "done"  # committed, response stored


@dataclass(frozen=True)
class StoredBatch:
    body_hash: str
    status: BatchStatus
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class New:
    """Never seen: process it."""


@dataclass(frozen=True)
class Replay:
    """Same key, same body, done: answer the stored response again."""

    response: dict[str, Any]


@dataclass(frozen=True)
class KeyReused:
    """Same key, different body: a client bug, refused whatever the status."""


@dataclass(frozen=True)
class InFlight:
    """Same key and body still being processed: the client retries later."""


Decision = New | Replay | KeyReused | InFlight


def decide(stored: StoredBatch | None, body_hash: str) -> Decision:
    """What to do with a push, given what is stored under its key.

    The body hash is checked before the status: a different body under the
    same key will never succeed, so "retry later" (409) would mislead.
    """
    if stored is None:
        return New()
    if stored.body_hash != body_hash:
        return KeyReused()
    if stored.status is BatchStatus.IN_FLIGHT or stored.response is None:
        return InFlight()
    return Replay(stored.response)


def key_matches(idempotency_key: str | None, batch_id: str) -> bool:
    """The header must repeat the body's batch_id (case-insensitive UUIDs)."""
    return idempotency_key is not None and idempotency_key.strip().lower() == batch_id.lower()
