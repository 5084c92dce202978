"""Batch-level idempotency decisions."""

from __future__ import annotations

from sync.batches import BatchStatus, InFlight, KeyReused, New, Replay, StoredBatch, decide, key_matches

RESPONSE = {"batch_id": "b", "results": []}


def test_unknown_key_is_new() -> None:
    assert decide(None, "h1") == New()


def test_same_body_done_replays_the_stored_response() -> None:
    assert decide(StoredBatch("h1", BatchStatus.DONE, RESPONSE), "h1") == Replay(RESPONSE)


def test_same_body_in_flight_is_in_flight() -> None:
    assert decide(StoredBatch("h1", BatchStatus.IN_FLIGHT), "h1") == InFlight()


def test_different_body_is_key_reuse_whatever_the_status() -> None:
    assert decide(StoredBatch("h1", BatchStatus.DONE, RESPONSE), "h2") == KeyReused()
    assert decide(StoredBatch("h1", BatchStatus.IN_FLIGHT), "h2") == KeyReused()


def test_key_must_repeat_the_batch_id() -> None:
    batch_id = "0b0e6a34-4a1a-4f5f-9d4e-3c1e6b7f1a11"
    assert key_matches(batch_id.upper(), batch_id)
    assert not key_matches(None, batch_id)
    assert not key_matches("0b0e6a34-4a1a-4f5f-9d4e-3c1e6b7f1a12", batch_id)
