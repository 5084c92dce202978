"""The documented behaviour of `sync.store.RecordStore`, method by method, on every backend.

Each test names the docstring sentence it checks. Where it matters, a test looks both inside the
transaction that wrote (the engine reads its own batch's writes) and from a new store after the
commit (the next batch, perhaps of another device, reads them from the database).
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from sync.domain import DeviceContext, Entity, ItemResult, ItemStatus, RecordState, RecordStatus, RememberedOp
from sync.store import RecordStore
from tests.contract.conftest import CLOSED_SITE, NOW, OTHER_TEAM, TEAM, Harness, new_device, reopen, xfail_on
from tests.factories import correct_mutation, create_mutation


def new_id() -> str:
    return str(uuid.uuid4())


def consultation(store: RecordStore, harness: Harness, **data: Any) -> RecordState:
    """Version 1 of a consultation, with a seq from the store (records' seqs are unique)."""
    fields = {"population_group": "idp", "sex": "f", "age_band": "18-59", "visit": "new", "service": "general",
              "referral": False, **data}
    return RecordState(id=new_id(), entity=Entity.CONSULTATION, team_id=TEAM, site_id="ly-mp-tripoli",
                       occurred_on=date(2026, 3, 1), recorded_at="2026-03-01T09:00:00Z", version=1,
                       status=RecordStatus.ACTIVE, seq=store.next_seq(), clock_suspect=False, data=fields,
                       device_id=harness.device.device_id, received_at=NOW)


def next_version(store: RecordStore, state: RecordState, **changes: Any) -> RecordState:
    """The state of the record's next version (a correction of `data`, or `status=` for a void)."""
    status = changes.pop("status", state.status)
    return dataclasses.replace(state, version=state.version + 1, seq=store.next_seq(), status=status,
                               data={**state.data, **changes})


def remembered(op_id: str, device: DeviceContext, result: ItemResult) -> RememberedOp:
    return RememberedOp(op_id=op_id, device_id=device.device_id, fingerprint="f" * 64, result=result)


def revise(store: RecordStore, harness: Harness, record_id: str, version: int, changes: dict[str, Any]) -> None:
    store.add_revision(record_id=record_id, version=version, kind="create" if version == 1 else "correct",
                       changes=changes, reason=None, device_id=harness.device.device_id, op_id=new_id(), at=NOW)


# --- op memory ------------------------------------------------------------------------------------


# The outcomes an op can have, each in the shape `ItemResult.to_wire` keeps (so JSON round-trips it).
OUTCOMES = {
    "applied": lambda op_id, record_id: ItemResult(op_id, ItemStatus.APPLIED, id=record_id, version=2, seq=41),
    "conflict": lambda op_id, record_id: ItemResult(op_id, ItemStatus.CONFLICT, id=record_id, current_version=3,
                                                    current={"sex": "m", "status": "voided"}),
    "rejected": lambda op_id, record_id: ItemResult(op_id, ItemStatus.REJECTED,
                                                    errors={"data.sex": ["Must be one of: f, m, x."]}),
}


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_get_op_is_none_until_remember_op_then_the_outcome_in_and_after_the_transaction(
    harness: Harness, outcome: str
) -> None:
    # get_op: "The remembered outcome of op_id, or None if never remembered."
    # remember_op: "op.result round-trips through ItemResult.to_wire/from_wire if stored as JSON."
    store = harness.open()
    op_id = new_id()
    op = remembered(op_id, harness.device, OUTCOMES[outcome](op_id, new_id()))
    assert store.get_op(op_id) is None

    store.remember_op(op)

    assert store.get_op(op_id) == op
    assert reopen(harness).get_op(op_id) == op


def test_op_ids_are_global_not_per_device(harness: Harness) -> None:
    # get_op: "Op ids are global (not per device): a tablet re-enrolled under a new device id still
    # re-sends its old op ids and must get duplicate."
    store = harness.open()
    op_id = new_id()
    op = remembered(op_id, harness.device, OUTCOMES["applied"](op_id, new_id()))
    store.remember_op(op)

    assert reopen(harness, new_device(OTHER_TEAM)).get_op(op_id) == op


def test_remember_op_twice_in_one_transaction_raises(harness: Harness) -> None:
    # remember_op: "Called at most once per op_id" (MemoryStore, the spec, raises KeyError).
    store = harness.open()
    op_id = new_id()
    first = remembered(op_id, harness.device, OUTCOMES["applied"](op_id, new_id()))
    store.remember_op(first)

    with pytest.raises(KeyError):
        store.remember_op(remembered(op_id, harness.device, OUTCOMES["rejected"](op_id, None)))
    assert store.get_op(op_id) == first


def test_remember_op_of_a_committed_op_fails_and_the_first_outcome_stays(harness: Harness) -> None:
    # remember_op: "a concurrent double insert fails the transaction instead of storing two
    # outcomes". A store that never read the op cannot know; the commit must fail then.
    op_id = new_id()
    first = remembered(op_id, harness.device, OUTCOMES["applied"](op_id, new_id()))
    harness.open().remember_op(first)
    store = reopen(harness)

    with pytest.raises((KeyError, IntegrityError)):
        store.remember_op(remembered(op_id, harness.device, OUTCOMES["rejected"](op_id, None)))
        harness.commit()
    harness.rollback()

    assert harness.open().get_op(op_id) == first


# --- records --------------------------------------------------------------------------------------


def test_insert_then_get_in_and_after_the_transaction(harness: Harness) -> None:
    # insert_record: "Store a new record (version 1)"; get_record: "The current state of a record".
    store = harness.open()
    record = consultation(store, harness, beneficiary_ref="B-17", age_years=30)
    assert store.get_record(record.id) is None

    store.insert_record(record)

    assert store.get_record(record.id) == record
    assert reopen(harness).get_record(record.id) == record


def test_get_record_answers_whatever_the_records_team(harness: Harness) -> None:
    # get_record: "The current state of a record, whatever its team, or None."
    store = harness.open()
    record = dataclasses.replace(consultation(store, harness), team_id=OTHER_TEAM, site_id="ly-mp-benghazi")
    store.insert_record(record)

    assert reopen(harness, new_device(TEAM)).get_record(record.id) == record
    assert harness.open().get_record(new_id()) is None


def test_get_record_returns_a_copy(harness: Harness) -> None:
    # get_record: "The returned object must be a copy: the engine builds new states from it and the
    # store must not change behind its back."
    store = harness.open()
    record = consultation(store, harness, reached_note=["a"])
    store.insert_record(record)
    expected = copy.deepcopy(record)

    def change_what_get_record_returned(current: RecordStore) -> None:
        got = current.get_record(record.id)
        assert got is not None
        got.data["sex"] = "m"
        got.data["reached_note"].append("b")
        got.version, got.status = 9, RecordStatus.VOIDED

    change_what_get_record_returned(store)
    assert store.get_record(record.id) == expected
    store = reopen(harness)
    change_what_get_record_returned(store)
    assert store.get_record(record.id) == expected


def test_a_state_handed_out_does_not_change_when_the_record_is_updated(harness: Harness) -> None:
    # get_record: "the store must not change behind its back".
    store = harness.open()
    record = consultation(store, harness)
    store.insert_record(record)
    handed_out = store.get_record(record.id)
    snapshot = copy.deepcopy(handed_out)

    store.update_record(next_version(store, record, sex="m"))

    assert handed_out == snapshot


# No test that insert_record/update_record copy the state they are given: MemoryStore does ("copies
# records in and out, as a database would"), but the Protocol does not ask it, and a store may keep
# the engine's own state (the engine never changes a state after handing it over).


def test_update_replaces_the_whole_state(harness: Harness) -> None:
    # update_record: "Replace the stored state of an existing record by its id."
    store = harness.open()
    record = consultation(store, harness, beneficiary_ref="B-17")
    store.insert_record(record)
    store = reopen(harness)
    corrected = next_version(store, record, sex="m")
    del corrected.data["beneficiary_ref"]  # a field removed by the correction is gone, not kept
    corrected = dataclasses.replace(corrected, site_id="ly-cdc-tripoli-1", occurred_on=date(2026, 2, 27),
                                    recorded_at="2026-02-27T08:00:00Z", clock_suspect=True)

    store.update_record(corrected)
    assert store.get_record(record.id) == corrected
    voided = next_version(store, corrected, status=RecordStatus.VOIDED)
    store.update_record(voided)

    assert store.get_record(record.id) == voided
    assert reopen(harness).get_record(record.id) == voided


# --- history --------------------------------------------------------------------------------------


def test_fields_changed_since_unions_later_revisions_committed_and_staged(harness: Harness) -> None:
    # fields_changed_since: "The union of the keys of those revisions' changes; empty if none."
    store = harness.open()
    record = consultation(store, harness, beneficiary_ref="B-17")
    other = consultation(store, harness)
    store.insert_record(record)
    store.insert_record(other)
    revise(store, harness, record.id, 1, record.content())
    revise(store, harness, other.id, 1, other.content())
    revise(store, harness, other.id, 2, {"visit": "follow_up"})
    revise(store, harness, record.id, 2, {"sex": "m"})
    store = reopen(harness)
    # Staged in the transaction that asks, as a batch's earlier item leaves it.
    revise(store, harness, record.id, 3, {"beneficiary_ref": None, "sex": "x"})

    assert store.fields_changed_since(record.id, 0) == set(record.content())
    assert store.fields_changed_since(record.id, 1) == {"sex", "beneficiary_ref"}
    assert store.fields_changed_since(record.id, 2) == {"sex", "beneficiary_ref"}
    assert store.fields_changed_since(record.id, 3) == set()
    assert store.fields_changed_since(other.id, 1) == {"visit"}
    assert store.fields_changed_since(new_id(), 0) == set()
    assert reopen(harness).fields_changed_since(record.id, 2) == {"sex", "beneficiary_ref"}


def test_a_second_revision_of_the_same_version_fails(harness: Harness) -> None:
    # add_revision: "(record_id, version) is unique."
    store = harness.open()
    record = consultation(store, harness)
    store.insert_record(record)
    revise(store, harness, record.id, 1, record.content())
    store = reopen(harness)

    with pytest.raises((KeyError, IntegrityError)):
        revise(store, harness, record.id, 1, {"sex": "m"})
        harness.commit()
    harness.rollback()

    assert harness.open().fields_changed_since(record.id, 0) == set(record.content())


# --- conflicts and quarantine ---------------------------------------------------------------------


def test_add_conflict_stores_an_open_conflict_as_given(harness: Harness) -> None:
    # add_conflict: "Store an open conflict for coordinators"; `mutation` as the device sent it.
    store = harness.open()
    record = consultation(store, harness)
    store.insert_record(record)
    store = reopen(harness)
    mutation = {"op_id": new_id(), "kind": "correct", "entity": "consultation", "id": record.id,
                "base_version": 1, "data": {"sex": "m", "visit": "follow_up"}, "reason": "typo"}
    conflict: dict[str, Any] = {
        "record_id": record.id, "device_id": harness.device.device_id, "op_id": mutation["op_id"],
        "base_version": 1, "current_version": 2, "mutation": mutation, "current": {"sex": "x"},
        "at": NOW + timedelta(seconds=5)}
    expected = copy.deepcopy(conflict)

    store.add_conflict(**conflict)
    mutation["data"]["sex"] = "f"  # the store keeps a copy

    harness.commit()
    assert harness.conflicts() == [expected]


# What a device may send as one item: any JSON value, not only objects.
RAW_ITEMS = [
    "not an object",
    ["a", 1, None, {"k": []}],
    42,
    -1.5,
    True,
    None,
    -1e308,
    {"op_id": 7, "kind": "create", "data": {"sex": "q", "reached": {"f": {"18-59": "x"}}}},
    {"op_id": "ø-٣-💥", "نص": "عربي", "deep": [[[{"a": [1, 2, {"b": None}]}]]]},
]


def test_quarantine_keeps_any_json_value_exactly(harness: Harness) -> None:
    # quarantine: "Keep a mutation that was not applied, exactly as received. raw is whatever JSON
    # value the device sent for the item (it may not even be an object); errors ... (may be empty);
    # reason is a code: rejected or device_revoked."
    store = harness.open()
    expected = []
    for index, raw in enumerate(RAW_ITEMS):
        errors = {} if index % 2 else {"mutation": ["Must be an object."], "data.sex": ["Must be one of: f, m, x."]}
        reason = "device_revoked" if index % 3 == 0 else "rejected"
        at = NOW + timedelta(seconds=index)
        store.quarantine(device_id=harness.device.device_id, raw=copy.deepcopy(raw), errors=errors, reason=reason,
                         at=at)
        expected.append({"device_id": harness.device.device_id, "raw": raw, "errors": errors, "reason": reason,
                         "at": at})

    harness.commit()
    assert harness.quarantined() == expected


def test_quarantine_keeps_a_bare_integer_beyond_64_bits(request: pytest.FixtureRequest, harness: Harness) -> None:
    # "whatever JSON value the device sent": JSON numbers have no size limit (the hostile-input
    # generator sends 10^30), and a bare number is a rejected item of its own.
    xfail_on(request, harness, {"sqlite"}, "SQLite gives a column declared JSON NUMERIC affinity: the JSON text "
                                           "'1000...0' of a bare integer is stored as a REAL and read back 1e+30")
    store = harness.open()
    for raw in (10**30, 2**64 + 1):
        store.quarantine(device_id=harness.device.device_id, raw=raw, errors={}, reason="rejected", at=NOW)

    harness.commit()
    assert [kept["raw"] for kept in harness.quarantined()] == [10**30, 2**64 + 1]


def test_quarantine_keeps_a_copy_of_the_raw_item(harness: Harness) -> None:
    store = harness.open()
    raw: dict[str, Any] = {"op_id": "x", "data": {"sex": "q"}}
    store.quarantine(device_id=harness.device.device_id, raw=raw, errors={}, reason="rejected", at=NOW)
    raw["data"]["sex"] = "f"

    harness.commit()
    assert [kept["raw"] for kept in harness.quarantined()] == [{"op_id": "x", "data": {"sex": "q"}}]


def test_quarantine_keeps_nul_characters_as_visible_text(harness: Harness) -> None:
    # quarantine: "exactly as received, except that each NUL character is kept as the visible
    # text \u0000". A NUL is refused at the edge before any item is applied, but a revoked
    # device's batch is quarantined as sent (server/intake/push.py), NULs and all.
    store = harness.open()
    raw = {"op_id": "a\x00b", "data\x00": ["\x00", {"k": "v\x00"}]}
    store.quarantine(device_id=harness.device.device_id, raw=raw, errors={"op_id": ["\x00?"]},
                     reason="device_revoked", at=NOW)

    harness.commit()
    (kept,) = harness.quarantined()
    assert kept["raw"] == {"op_id": "a\\u0000b", "data\\u0000": ["\\u0000", {"k": "v\\u0000"}]}
    assert kept["errors"] == {"op_id": ["\\u0000?"]}


# --- change feed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [None, 5], ids=["one-by-one", "preloaded-block"])
def test_next_seq_is_strictly_increasing_across_stores_and_transactions(harness: Harness, block: int | None) -> None:
    # next_seq: "strictly greater than any seq allocated before, across all streams and all
    # transactions". SqlRecordStore may take a block per batch (its unit of work's seq_block): the
    # unused rest is a gap, never a repeat.
    seqs: list[int] = []
    for _ in range(3):
        store = harness.open(seq_block=block or 1)
        seqs += [store.next_seq(), store.next_seq()]
        harness.commit()
    seqs += [harness.open(new_device(OTHER_TEAM)).next_seq()]

    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_the_seqs_a_batch_stores_are_above_every_seq_before_in_the_order_handed_out(harness: Harness) -> None:
    # next_seq: "once the batch is written, the seqs it stored are strictly greater than any
    # committed before, in the order they were handed out". The push operation's SQL store hands
    # out provisional seqs and takes the real block only when it writes the batch (server/persistence/store.py
    # `late_seqs`, so the counter's lock is held for the writes and the commit only): the contract
    # is what the stored records and the results carry, not the placeholders in between.
    store = harness.open()
    before = store.next_seq()
    harness.commit()
    first, second = create_mutation(), create_mutation()

    results, _ = harness.push([first, second, correct_mutation(first["id"], 1, {"sex": "m"})],
                              now=datetime.now(UTC))

    seqs = [result.seq for result in results]
    assert all(seq is not None for seq in seqs)
    assert before < seqs[0] < seqs[1] < seqs[2]  # type: ignore[operator]
    stored = harness.open().get_record(first["id"])
    assert stored is not None and stored.seq == seqs[2]


# --- reference data -------------------------------------------------------------------------------


def test_site_belongs_to_team_follows_the_teams_sites(harness: Harness) -> None:
    # site_belongs_to_team: "True if the site is one of the team's sites (team.site_ids)."
    # Asked for the device's own team and for another one (a store may cache its own team's sites).
    store = harness.open()
    assert store.site_belongs_to_team("ly-mp-tripoli", TEAM)
    assert store.site_belongs_to_team(CLOSED_SITE, TEAM)
    assert not store.site_belongs_to_team("ly-mp-benghazi", TEAM)
    assert not store.site_belongs_to_team("ly-nowhere", TEAM)
    assert store.site_belongs_to_team("ly-mp-benghazi", OTHER_TEAM)
    assert not store.site_belongs_to_team("ly-mp-tripoli", OTHER_TEAM)
    assert store.site_belongs_to_team("ly-cdc-tripoli-2", "ly-chw-tripoli")
    assert not store.site_belongs_to_team("ly-mp-tripoli", "ly-no-such-team")


def test_site_is_active_only_for_existing_active_sites(harness: Harness) -> None:
    # site_is_active: "True if the site exists and is active."
    store = harness.open()
    assert store.site_is_active("ly-mp-tripoli")
    assert store.site_is_active("ly-dc-kufra")
    assert not store.site_is_active(CLOSED_SITE)
    assert not store.site_is_active("ly-nowhere")


def test_item_category_and_service_exists_answer_from_reference_data(harness: Harness) -> None:
    # item_category: "The category of the item code, or None if the item is unknown."
    # service_exists: "True if code is a known service."
    store = harness.open()
    assert [store.item_category(code) for code in ("hk-family", "dk-standard", "jerrycan", "tent", "")] == [
        "hygiene_kit", "dignity_kit", "nfi", None, None]
    assert [store.service_exists(code) for code in ("general", "vaccination", "dentistry", "")] == [
        True, True, False, False]


# --- hooks ----------------------------------------------------------------------------------------


def test_record_changed_subtracts_before_and_adds_after(harness: Harness) -> None:
    # record_changed: "subtract before if it was active, add after if it is active", committed with
    # the records. Read back through what the hook maintains (MemoryStore's counts, the SQL rollups).
    store = harness.open()
    first, second = consultation(store, harness), consultation(store, harness, service="mhpss")
    for record in (first, second):
        store.insert_record(record)
        store.record_changed(None, record)
    harness.commit()
    assert harness.active_consultations() == 2

    store = harness.open()
    corrected = next_version(store, first, sex="m")
    store.update_record(corrected)
    store.record_changed(first, corrected)
    harness.commit()
    assert harness.active_consultations() == 2

    store = harness.open()
    voided = next_version(store, corrected, status=RecordStatus.VOIDED)
    store.update_record(voided)
    store.record_changed(corrected, voided)
    # A voided record changed again (it stays out): nothing to subtract, nothing to add.
    revoided = next_version(store, voided, status=RecordStatus.VOIDED)
    store.update_record(revoided)
    store.record_changed(voided, revoided)
    harness.commit()
    assert harness.active_consultations() == 1
