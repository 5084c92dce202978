"""Representative push scenarios of tests/sync/test_push.py, run by the real engine on every store.

tests/sync/test_push.py states the push rules in full against MemoryStore; this file checks that
the engine gets the same answers from SqlRecordStore, batch after batch (each through
`server.persistence.store.apply_batch`, the production path, and committed) and within one batch (where the SQL
store answers from its cache and its staged rows, not the database).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync.domain import RecordStatus
from tests.contract.conftest import Harness, reopen
from tests.factories import correct_mutation, create_mutation, distribution_data, void_mutation


def push(harness: Harness, *mutations: Any, hooks: list[tuple[int | None, int]] | None = None) -> list[dict]:
    """One batch in one transaction, as production runs it (the SQL store: `apply_batch`, which
    preloads and locks what the batch names, applies it and flushes), committed."""
    results, changes = harness.push(list(mutations), now=datetime.now(UTC))
    if hooks is not None:
        hooks.extend(changes)
    return [result.to_wire() for result in results]


def statuses(results: list[dict]) -> list[str]:
    return [result["status"] for result in results]


def test_create_correct_void_each_make_one_version_and_one_change(harness: Harness) -> None:
    hooks: list[tuple[int | None, int]] = []
    create = create_mutation()
    record_id = create["id"]

    (created,) = push(harness, create, hooks=hooks)
    assert harness.active_consultations() == 1
    (corrected,) = push(harness, correct_mutation(record_id, 1, {"sex": "m"}), hooks=hooks)
    assert harness.active_consultations() == 1
    (voided,) = push(harness, void_mutation(record_id, 2), hooks=hooks)

    assert [(r["status"], r["version"]) for r in (created, corrected, voided)] == [
        ("applied", 1), ("applied", 2), ("applied", 3)]
    assert created["seq"] < corrected["seq"] < voided["seq"]
    assert hooks == [(None, 1), (1, 2), (2, 3)]
    assert harness.active_consultations() == 0
    record = harness.open().get_record(record_id)
    assert record is not None
    assert (record.version, record.seq, record.status, record.data["sex"]) == (3, voided["seq"],
                                                                              RecordStatus.VOIDED, "m")


def test_a_resent_op_is_a_duplicate_in_a_later_batch_and_a_reused_op_id_is_rejected(harness: Harness) -> None:
    create = create_mutation()
    (first,) = push(harness, create)

    assert push(harness, create, create) == [{**first, "status": "duplicate"}] * 2
    reused = {**create, "id": create_mutation()["id"]}
    (result,) = push(harness, reused)

    assert result["status"] == "rejected" and result["errors"]["op_id"][0].startswith("op_id_reused")
    assert [kept["raw"] for kept in harness.quarantined()] == [reused]
    assert harness.open().get_record(reused["id"]) is None


def test_a_stale_overlapping_correction_is_one_stored_conflict(harness: Harness) -> None:
    create = create_mutation("distribution", distribution_data(quantity=1))
    record_id = create["id"]
    push(harness, create, correct_mutation(record_id, 1, {"quantity": 3}, entity="distribution"))
    stale = correct_mutation(record_id, 1, {"quantity": 2, "household_size": 4}, entity="distribution")

    (result,) = push(harness, stale)
    assert push(harness, stale) == [result]  # re-sent: the same answer, no second conflict

    assert result == {"op_id": stale["op_id"], "status": "conflict", "id": record_id, "current_version": 2,
                      "current": {"quantity": 3}}
    (conflict,) = harness.conflicts()
    assert (conflict["record_id"], conflict["op_id"], conflict["base_version"], conflict["current_version"],
            conflict["current"]) == (record_id, stale["op_id"], 1, 2, {"quantity": 3})
    assert conflict["mutation"]["data"] == stale["data"]
    record = harness.open().get_record(record_id)
    assert record is not None and (record.version, record.data["quantity"]) == (2, 3)


def test_a_batch_sees_its_own_earlier_items(harness: Harness) -> None:
    # Within one batch nothing is committed: the SQL store must answer from what it staged.
    create = create_mutation("distribution", distribution_data(quantity=1))
    record_id = create["id"]
    results = push(
        harness,
        create,
        correct_mutation(record_id, 1, {"quantity": 3}, entity="distribution"),
        correct_mutation(record_id, 1, {"household_size": 4}, entity="distribution"),  # stale, other field
        correct_mutation(record_id, 1, {"quantity": 5}, entity="distribution"),  # stale, same field
        create,  # re-sent within the batch
    )

    assert statuses(results) == ["applied", "applied", "applied", "conflict", "duplicate"]
    assert [r.get("version") for r in results[:3]] == [1, 2, 3]
    record = reopen(harness).get_record(record_id)
    assert record is not None
    assert (record.version, record.data["quantity"], record.data["household_size"]) == (3, 3, 4)
    assert len(harness.conflicts()) == 1


def test_bad_items_are_rejected_and_quarantined_as_sent(harness: Harness) -> None:
    bad = create_mutation(data={**distribution_data(), "sex": "q"}, entity="distribution")
    good = create_mutation()

    results = push(harness, "junk", bad, good, [1, 2])

    assert statuses(results) == ["rejected", "rejected", "applied", "rejected"]
    assert [(kept["raw"], kept["reason"]) for kept in harness.quarantined()] == [
        ("junk", "rejected"), (bad, "rejected"), ([1, 2], "rejected")]
    assert harness.open().get_record(good["id"]) is not None
