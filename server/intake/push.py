"""The push operation (api.md "Sync": push): a JSON batch translated onto the write envelope.

This module checks the envelope's shape and answers in the push's words; the write itself (one
transaction per batch, retries, the claim of the `Idempotency-Key` = `batch_id`, a revoked device's
bounded quarantine, the device touch, `apply_batch`) is server/intake/envelope.py's, as for every
intake. The ledger is `sync_batches`: the batch row holding the response to replay is written in
the batch's own transaction (sync/batches.py has the decisions), so a crash before the commit
leaves nothing and a retry applies cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from config import Limits
from schemas.errors import flatten_messages
from schemas.sync import PushRequestSchema
from server.intake import PUSH
from server.intake.envelope import Translation, device_state, write
from server.models import SyncBatch
from server.persistence.staged import StagedTable, StagedWrites
from server.persistence.timeutil import isoformat_z, naive_utc
from server.web.errors import ApiError
from sync.batches import BatchStatus, InFlight, KeyReused, New, Replay, StoredBatch, decide, key_matches
from sync.domain import CURRENT_SCHEMA_VERSION, MIN_SUPPORTED_SCHEMA_VERSION, DeviceContext, ItemResult
from sync.fingerprint import canonical_json, envelope_fingerprint

# A batch row written for a revoked device's push: its mutations are in quarantine. Kept so a
# re-sent refused batch is not quarantined twice.
REFUSED = "refused"


@dataclass(frozen=True)
class PushAnswer:
    body: dict[str, Any]
    replayed: bool


# A batch's ledger row once applied, staged with its revisions and op memory (one statement on
# PostgreSQL, server/persistence/staged.py).
_LEDGER = StagedTable(SyncBatch.__table__, order=60)


class DeviceRevoked(Exception):
    """The device is revoked; what could be kept is in quarantine (the caller must commit it)."""


def push_batch(
    session: Session,
    device: DeviceContext,
    raw: Any,
    *,
    idempotency_key: str | None,
    limits: Limits,
) -> PushAnswer:
    """Apply one push request; raises ApiError for the batch-level answers of api.md."""
    envelope, errors = _load_envelope(raw)
    problem = _problem(raw, envelope, errors, idempotency_key, limits)
    if problem is not None:
        state = device_state(session, device.device_id)
        if state is None or state.status != "active":
            # Nothing is kept: a malformed or oversized envelope holds nothing well-formed to keep,
            # and the device must hear "wipe" whatever it sent.
            raise DeviceRevoked()
        raise problem
    return write(session, device, _Batch(raw, envelope, device), revoked_quarantine_max=limits.revoked_quarantine_max)


def _problem(raw: Any, envelope: dict[str, Any], errors: dict[str, list[str]], idempotency_key: str | None,
             limits: Limits) -> ApiError | None:
    """What is wrong with the request as a whole, in api.md's order of answers."""
    # Before the envelope's own errors: a newer format may well fail this server's schema, and the
    # tablet must hear that the format, not its data, is the problem.
    problem = _schema_version_problem(raw)
    if problem is not None:
        return problem
    if errors:
        return ApiError(400, "malformed_request", "The push envelope is not valid.", errors)
    count = len(envelope["mutations"])
    if count > limits.push_max_mutations:
        return ApiError(
            413,
            "payload_too_large",
            f"A batch may hold at most {limits.push_max_mutations} mutations; this one has {count}.",
        )
    if not key_matches(idempotency_key, str(envelope["batch_id"])):
        # 400, not 422: api.md reserves 422 for a key reused with another body, and clients
        # branch on it; a missing or different header is a malformed request.
        message = "Missing." if idempotency_key is None else "Must equal batch_id."
        return ApiError(
            400, "malformed_request", "The Idempotency-Key header must equal batch_id.", {"Idempotency-Key": [message]}
        )
    return None


# --- the translation ----------------------------------------------------------------------------


class _Batch(Translation[PushAnswer]):
    """A well-formed push batch, for the envelope."""

    intake = PUSH

    def __init__(self, raw: dict[str, Any], envelope: dict[str, Any], device: DeviceContext) -> None:
        self.key = self.batch_id = str(envelope["batch_id"])
        self.client_time = envelope["client_time"]
        self.app_version = str(envelope["app_version"])
        self._device = device
        self._mutations: list[Any] = envelope["mutations"]
        # Each item's canonical JSON, made once: the batch's fingerprint is hashed from it, and so is
        # each item's own where the item is already in normal form (sync.push.mutation_fingerprint).
        self.item_json = [canonical_json(item) for item in self._mutations]
        self._body_hash = envelope_fingerprint(raw, "mutations", self.item_json)

    def in_flight(self) -> Exception:
        return ApiError(
            409,
            "batch_in_flight",
            "This batch is still being processed; retry shortly to receive its result.",
            headers={"Retry-After": "1"},
        )

    def recall(self, session: Session, *, revoked: bool) -> PushAnswer | None:
        stored = session.get(SyncBatch, self.batch_id)
        if revoked:
            if stored is not None:
                raise DeviceRevoked()  # kept before, or applied before the revocation: nothing to add
            return None
        if stored is not None and stored.status == REFUSED and stored.device_id == self._device.device_id:
            # Sent while the device was revoked, and it is active again (revocation undone by hand):
            # its mutations sit in quarantine, so applying them now loses and doubles nothing.
            session.delete(stored)
            session.flush()
            stored = None
        decision = decide(_stored_batch(stored, self._device), self._body_hash)
        if isinstance(decision, Replay):
            return PushAnswer(decision.response, replayed=True)
        if isinstance(decision, KeyReused):
            raise ApiError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different batch; use a new batch_id for new content.",
            )
        if isinstance(decision, InFlight):
            raise self.in_flight()
        assert isinstance(decision, New)
        return None

    def mutations(self, session: Session, now: datetime) -> list[Any]:
        return self._mutations

    def settle(self, session: Session, results: list[ItemResult], now: datetime, staged: StagedWrites) -> PushAnswer:
        client_time: datetime = self.client_time  # type: ignore[assignment]
        body = {
            "batch_id": self.batch_id,
            "server_time": isoformat_z(now),
            "clock_offset_ms": round((now - client_time).total_seconds() * 1000),
            "results": [result.to_wire() for result in results],
        }
        staged.add(_LEDGER, [self._row(BatchStatus.DONE.value, body, now)])
        return PushAnswer(body, replayed=False)

    def refuse(self, session: Session, *, kept: bool, now: datetime) -> PushAnswer:
        if kept:
            self._remember(session, REFUSED, None, now)
        raise DeviceRevoked()

    def _remember(self, session: Session, status: str, response: dict[str, Any] | None, now: datetime) -> None:
        session.add(SyncBatch(**self._row(status, response, now)))
        session.flush()

    def _row(self, status: str, response: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        naive_now = naive_utc(now)
        return {"batch_id": self.batch_id, "device_id": self._device.device_id, "body_hash": self._body_hash,
                "status": status, "response": response, "created_at": naive_now, "completed_at": naive_now}


def _stored_batch(row: SyncBatch | None, device: DeviceContext) -> StoredBatch | None:
    if row is None:
        return None
    if row.device_id != device.device_id:
        # Another device's key: replaying would hand this device another team's results.
        # An impossible body hash makes `decide` answer KeyReused.
        return StoredBatch(body_hash="", status=BatchStatus.DONE, response=None)
    return StoredBatch(body_hash=row.body_hash, status=BatchStatus(row.status), response=row.response)


def _schema_version_problem(raw: Any) -> ApiError | None:
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > CURRENT_SCHEMA_VERSION:
        return ApiError(
            422,
            "schema_unsupported",
            f"This server understands push schema versions {MIN_SUPPORTED_SCHEMA_VERSION} to "
            f"{CURRENT_SCHEMA_VERSION}; nothing of this batch was applied. Keep it and send it again "
            "once the server is updated.",
            {"schema_version": [f"Must be at most {CURRENT_SCHEMA_VERSION}."]},
        )
    return None


def _load_envelope(raw: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    try:
        return PushRequestSchema().load(raw), {}
    except ValidationError as exc:
        return {}, flatten_messages(exc.messages)
