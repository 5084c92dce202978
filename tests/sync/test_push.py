"""Push item rules (api.md "Sync") against MemoryStore and the real schemas."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from schemas.records import record_validator
from sync.domain import DeviceContext, ItemResult, RecordStatus
from sync.memory import MemoryStore
from sync.push import apply_mutations, quarantine_all
from sync.store import RecordStore

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
TEAM = "team-tripoli"
OTHER_TEAM = "team-benghazi"
DEVICE = DeviceContext("device-1", TEAM, "LY")
OTHER_DEVICE = DeviceContext("device-2", OTHER_TEAM, "LY")


def make_store() -> MemoryStore:
    store = MemoryStore()
    store.add_site("site-a", TEAM)
    store.add_site("site-b", TEAM)
    store.add_site("site-closed", TEAM, active=False)
    store.add_site("site-x", OTHER_TEAM)
    store.add_item("hk-family", "hygiene_kit")
    store.add_item("blanket", "nfi")
    store.add_service("general")
    store.add_service("mhpss")
    return store


@pytest.fixture
def store() -> MemoryStore:
    return make_store()


def new_id() -> str:
    return str(uuid.uuid4())


def _common(team_id: str = TEAM, site_id: str = "site-a") -> dict[str, Any]:
    return {
        "site_id": site_id,
        "team_id": team_id,
        "occurred_on": "2026-03-01",
        "recorded_at": "2026-03-01T09:00:00+00:00",
        "population_group": "idp",
    }


def consultation(**overrides: Any) -> dict[str, Any]:
    data = {**_common(), "sex": "f", "age_band": "18-59", "visit": "new", "service": "general", "referral": False}
    return {**data, **overrides}


def distribution(**overrides: Any) -> dict[str, Any]:
    data = {**_common(), "sex": "m", "age_band": "5-17", "item_code": "hk-family", "quantity": 1}
    return {**data, **overrides}


def outreach(**overrides: Any) -> dict[str, Any]:
    data = {**_common(), "activity": "screening", "reached": {"f": {"18-59": 12, "5-17": 3}, "m": {"18-59": 7}}}
    return {**data, **overrides}


DATA = {"consultation": consultation, "distribution": distribution, "outreach": outreach}


def create(entity: str = "consultation", data: dict[str, Any] | None = None, *, id: str | None = None) -> dict:
    return {
        "op_id": new_id(),
        "kind": "create",
        "entity": entity,
        "id": id or new_id(),
        "data": data if data is not None else DATA[entity](),
    }


def correct(id: str, base_version: int, data: dict[str, Any], entity: str = "consultation", **extra: Any) -> dict:
    return {"op_id": new_id(), "kind": "correct", "entity": entity, "id": id, "base_version": base_version,
            "data": data, **extra}  # fmt: skip


def void(id: str, base_version: int | None = 1, entity: str = "consultation", **extra: Any) -> dict:
    mutation = {"op_id": new_id(), "kind": "void", "entity": entity, "id": id, **extra}
    if base_version is not None:
        mutation["base_version"] = base_version
    return mutation


def push(
    store: RecordStore,
    *mutations: Any,
    device: DeviceContext = DEVICE,
    client_time: datetime | None = NOW,
    now: datetime = NOW,
) -> list[dict[str, Any]]:
    results = apply_mutations(
        store, device, list(mutations), validate=record_validator(now.date()), now=now, client_time=client_time
    )
    assert all(isinstance(r, ItemResult) for r in results)
    return [r.to_wire() for r in results]


def push_one(store: RecordStore, mutation: Any, **kwargs: Any) -> dict[str, Any]:
    (result,) = push(store, mutation, **kwargs)
    return result


def created(store: MemoryStore, entity: str = "consultation", **overrides: Any) -> str:
    mutation = create(entity, DATA[entity](**overrides))
    assert push_one(store, mutation)["status"] == "applied"
    return mutation["id"]


# --- create ---------------------------------------------------------------


def test_create_is_applied_at_version_1_with_a_seq(store: MemoryStore) -> None:
    mutation = create("distribution")
    result = push_one(store, mutation)

    assert result == {"op_id": mutation["op_id"], "status": "applied", "id": mutation["id"], "version": 1, "seq": 1}
    record = store.records[mutation["id"]]
    assert record.version == 1 and record.seq == 1
    assert record.status is RecordStatus.ACTIVE
    assert (record.team_id, record.site_id, record.occurred_on) == (TEAM, "site-a", date(2026, 3, 1))
    assert record.data == {"population_group": "idp", "sex": "m", "age_band": "5-17", "item_code": "hk-family",
                           "quantity": 1}  # fmt: skip
    assert record.device_id == DEVICE.device_id and record.received_at == NOW
    assert not record.clock_suspect
    (revision,) = store.revisions
    assert (revision.version, revision.kind, revision.op_id) == (1, "create", mutation["op_id"])
    assert revision.changes == record.content()
    assert store.changes == [(None, record)]
    assert store.active_counts == {"distribution": 1}


@pytest.mark.parametrize("entity", ["consultation", "distribution", "outreach"])
def test_every_entity_can_be_created(store: MemoryStore, entity: str) -> None:
    assert push_one(store, create(entity))["status"] == "applied"


def test_results_follow_mutation_order_and_a_bad_item_does_not_stop_the_others(store: MemoryStore) -> None:
    first, bad, last = create(), create(data=consultation(sex="q")), create()
    results = push(store, first, bad, last)

    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert [r["op_id"] for r in results] == [first["op_id"], bad["op_id"], last["op_id"]]
    assert [r["seq"] for r in (results[0], results[2])] == [1, 2]
    assert set(store.records) == {first["id"], last["id"]}


def test_seqs_increase_across_records_and_batches(store: MemoryStore) -> None:
    seqs = [r["seq"] for r in push(store, create(), create())] + [push_one(store, create())["seq"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


@pytest.mark.parametrize(
    ("mutation", "errors"),
    [
        ("not an object", {"mutation": ["Must be an object."]}),
        ({"kind": "create", "entity": "consultation", "id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a01", "data": {}},
         {"op_id": ["Missing data for required field."]}),
        ({"op_id": "nope", "kind": "create", "entity": "consultation", "id": 5, "data": {}},
         {"op_id": ["Not a valid UUID."], "id": ["Not a valid UUID."]}),
        ({"op_id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a01", "kind": "upsert", "entity": "visit",
          "id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a02", "data": {}},
         {"kind": ["Must be one of: create, correct, void."],
          "entity": ["Must be one of: consultation, distribution, outreach, training."]}),
        ({"op_id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a01", "kind": "create", "entity": "consultation",
          "id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a02", "data": [], "extra": 1},
         {"data": ["Must be an object."], "extra": ["Unknown field."]}),
        ({"op_id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a01", "kind": "create", "entity": "consultation",
          "id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a02", "base_version": 1},
         {"data": ["Missing data for required field."], "base_version": ["Not allowed for create."]}),
        ({"op_id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a01", "kind": "create", "entity": "consultation",
          "id": "7d1c1d37-50c5-4a3c-9a4b-0b2f1bbf0a02", "data": {}, "reason": 5},
         {"reason": ["Must be a string of at most 500 characters."]}),
    ],
)  # fmt: skip
def test_structurally_bad_items_are_rejected_with_field_errors_and_quarantined_raw(
    store: MemoryStore, mutation: Any, errors: dict[str, list[str]]
) -> None:
    result = push_one(store, mutation)

    assert result["status"] == "rejected"
    assert result["errors"] == errors
    (kept,) = store.quarantined
    assert (kept.raw, kept.errors, kept.reason, kept.device_id) == (mutation, errors, "rejected", DEVICE.device_id)
    assert store.records == {} and store.seq == 0


def test_rejected_item_echoes_its_op_id_when_it_has_one(store: MemoryStore) -> None:
    mutation = create(data=consultation(sex="q"))
    assert push_one(store, mutation)["op_id"] == mutation["op_id"]
    assert push_one(store, {"op_id": 7})["op_id"] is None


def test_upper_case_uuids_are_normalised(store: MemoryStore) -> None:
    mutation = create()
    mutation["id"], mutation["op_id"] = mutation["id"].upper(), mutation["op_id"].upper()
    result = push_one(store, mutation)
    assert result["id"] == mutation["id"].lower() and result["op_id"] == mutation["op_id"].lower()
    assert mutation["id"].lower() in store.records


def test_invalid_data_is_rejected_with_data_prefixed_field_errors(store: MemoryStore) -> None:
    mutation = create(data=consultation(sex="q", referral="yes", colour="red"))
    result = push_one(store, mutation)

    assert result == {
        "op_id": mutation["op_id"],
        "status": "rejected",
        "errors": {
            "data.sex": ["Must be one of: f, m, x."],
            "data.referral": ["Not a valid boolean."],
            "data.colour": ["Unknown field."],
        },
    }
    assert store.quarantined[0].raw == mutation


@pytest.mark.parametrize(
    ("entity", "overrides", "field", "message"),
    [
        ("consultation", {"team_id": OTHER_TEAM}, "data.team_id", "Must be the team of this device."),
        ("consultation", {"site_id": "site-x"}, "data.site_id", "Unknown site for this team."),
        ("consultation", {"site_id": "site-nowhere"}, "data.site_id", "Unknown site for this team."),
        ("consultation", {"site_id": "site-closed"}, "data.site_id", "Site is not active."),
        ("consultation", {"service": "dentistry"}, "data.service", "Unknown service."),
        ("distribution", {"item_code": "tent"}, "data.item_code", "Unknown item."),
    ],
)
def test_create_is_checked_against_reference_data(
    store: MemoryStore, entity: str, overrides: dict[str, Any], field: str, message: str
) -> None:
    result = push_one(store, create(entity, DATA[entity](**overrides)))
    assert result["status"] == "rejected"
    assert result["errors"] == {field: [message]}
    assert store.records == {}


def test_age_years_derives_the_band_and_both_are_kept(store: MemoryStore) -> None:
    data = consultation(age_years=67)
    del data["age_band"]
    record_id = created_from(store, create(data=data))
    assert store.records[record_id].data.items() >= {"age_years": 67, "age_band": "60+"}.items()


def created_from(store: MemoryStore, mutation: dict[str, Any]) -> str:
    assert push_one(store, mutation)["status"] == "applied"
    return mutation["id"]


def test_resent_op_is_a_duplicate_repeating_the_original_outcome(store: MemoryStore) -> None:
    mutation = create()
    first = push_one(store, mutation)
    push(store, create())  # something else happens in between
    state = (dict(store.records), len(store.revisions), store.seq, len(store.changes))

    again = push_one(store, mutation)
    in_same_batch = push(store, mutation, mutation)

    expected = {**first, "status": "duplicate"}
    assert again == expected and in_same_batch == [expected, expected]
    assert state == (dict(store.records), len(store.revisions), store.seq, len(store.changes))


def test_resent_correction_repeats_its_original_version_and_seq(store: MemoryStore) -> None:
    record_id = created(store, "distribution")
    correction = correct(record_id, 1, {"quantity": 2}, entity="distribution")
    first = push_one(store, correction)
    push_one(store, correct(record_id, 2, {"quantity": 3}, entity="distribution"))

    assert push_one(store, correction) == {**first, "status": "duplicate"}
    assert store.records[record_id].data["quantity"] == 3


def test_same_op_id_with_different_content_is_rejected_not_dropped(store: MemoryStore) -> None:
    mutation = create()
    push_one(store, mutation)
    reused = {**mutation, "id": new_id()}

    result = push_one(store, reused)

    assert result["status"] == "rejected"
    assert result["errors"]["op_id"][0].startswith("op_id_reused")
    assert store.quarantined[-1].raw == reused
    assert reused["id"] not in store.records


def test_create_of_existing_id_with_identical_content_is_a_duplicate(store: MemoryStore) -> None:
    original = create()
    first = push_one(store, original)
    recreated = {**original, "op_id": new_id()}

    result = push_one(store, recreated)

    assert result == {**first, "op_id": recreated["op_id"], "status": "duplicate"}
    assert len(store.revisions) == 1 and store.seq == 1


def test_create_of_existing_id_with_other_content_is_an_id_collision(store: MemoryStore) -> None:
    original = create()
    push_one(store, original)
    other = create(data=consultation(sex="m"), id=original["id"])

    result = push_one(store, other)

    assert result["status"] == "rejected"
    assert list(result["errors"]) == ["id"] and result["errors"]["id"][0].startswith("id_collision")
    assert store.records[original["id"]].data["sex"] == "f"
    assert store.quarantined[-1].raw == other


def test_rejected_op_is_judged_again_when_resent(store: MemoryStore) -> None:
    mutation = create("distribution", distribution(item_code="tent"))
    assert push_one(store, mutation)["status"] == "rejected"

    store.add_item("tent", "nfi")  # reference data arrives later

    assert push_one(store, mutation)["status"] == "applied"


@pytest.mark.parametrize(
    ("recorded_at", "client_time", "suspect"),
    [
        ((NOW + timedelta(hours=23)).isoformat(), NOW, False),
        ((NOW + timedelta(hours=25)).isoformat(), NOW, True),
        ("2026-03-02T09:00:00", NOW, False),  # no offset: read as UTC
        ("2026-03-01T09:00:00+00:00", NOW + timedelta(hours=25), True),
        ("2026-03-01T09:00:00+00:00", NOW - timedelta(hours=25), True),
        ("2026-03-01T09:00:00+00:00", NOW - timedelta(hours=23), False),
        ("2026-03-01T09:00:00+00:00", None, False),
    ],
)
def test_clock_suspect(store: MemoryStore, recorded_at: str, client_time: datetime | None, suspect: bool) -> None:
    mutation = create(data=consultation(recorded_at=recorded_at))
    push_one(store, mutation, client_time=client_time)
    assert store.records[mutation["id"]].clock_suspect is suspect


# --- correct --------------------------------------------------------------


def test_correction_merges_changed_fields_into_a_new_version(store: MemoryStore) -> None:
    record_id = created(store, "distribution")
    before = store.records[record_id]
    correction = correct(record_id, 1, {"quantity": 2}, entity="distribution", reason="typo")

    result = push_one(store, correction)

    after = store.records[record_id]
    assert result == {"op_id": correction["op_id"], "status": "applied", "id": record_id, "version": 2, "seq": 2}
    assert after.version == 2 and after.seq == 2
    assert after.data == {**before.data, "quantity": 2}
    revision = store.revisions[-1]
    assert (revision.version, revision.kind, revision.changes, revision.reason) == (2, "correct", {"quantity": 2},
                                                                                    "typo")  # fmt: skip
    assert store.changes[-1] == (before, after)


def test_correction_of_a_common_field(store: MemoryStore) -> None:
    record_id = created(store)
    push_one(store, correct(record_id, 1, {"site_id": "site-b", "occurred_on": "2026-02-27"}))
    record = store.records[record_id]
    assert (record.site_id, record.occurred_on) == ("site-b", date(2026, 2, 27))


@pytest.mark.parametrize("make", [lambda: new_id(), lambda: None], ids=["unknown", "other team"])
def test_correction_of_unknown_or_other_teams_record_is_rejected_alike(store: MemoryStore, make: Any) -> None:
    other_id = push_one(store, create(data=consultation(team_id=OTHER_TEAM, site_id="site-x")), device=OTHER_DEVICE)[
        "id"
    ]
    record_id = make() or other_id

    results = push(store, correct(record_id, 1, {"sex": "m"}), void(record_id))

    assert [r["errors"] for r in results] == [{"id": ["Unknown record."]}] * 2
    assert store.records[other_id].data["sex"] == "f" and store.records[other_id].version == 1


@pytest.mark.parametrize(
    ("mutation_overrides", "errors"),
    [
        ({"entity": "outreach"}, {"entity": ["Does not match the record's entity (consultation)."]}),
        ({"base_version": 2}, {"base_version": ["Ahead of the server's version (1)."]}),
        ({"base_version": 0}, {"base_version": ["Must be an integer greater than or equal to 1."]}),
        ({"base_version": True}, {"base_version": ["Must be an integer greater than or equal to 1."]}),
        ({"base_version": None}, {"base_version": ["Field may not be null."]}),
        ({"data": {}}, {"data": ["Must name at least one field to correct."]}),
        ({"data": {"sex": "q"}}, {"data.sex": ["Must be one of: f, m, x."]}),
        ({"data": {"team_id": OTHER_TEAM}}, {"data.team_id": ["Cannot be changed."]}),
        ({"data": {"id": "x"}}, {"data.id": ["Unknown field."]}),
        ({"data": {"site_id": "site-x"}}, {"data.site_id": ["Unknown site for this team."]}),
        ({"data": {"service": "dentistry"}}, {"data.service": ["Unknown service."]}),
        ({"data": {"visit": None}}, {"data.visit": ["Field may not be null."]}),
    ],
)
def test_invalid_corrections_are_rejected_and_change_nothing(
    store: MemoryStore, mutation_overrides: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    record_id = created(store)
    mutation = {**correct(record_id, 1, {"sex": "m"}), **mutation_overrides}

    result = push_one(store, mutation)

    assert result == {"op_id": mutation["op_id"], "status": "rejected", "errors": errors}
    assert store.records[record_id].version == 1 and store.records[record_id].data["sex"] == "f"
    assert store.quarantined[-1].raw == mutation


def test_correction_without_base_version_is_rejected(store: MemoryStore) -> None:
    record_id = created(store)
    mutation = correct(record_id, 1, {"sex": "m"})
    del mutation["base_version"]
    assert push_one(store, mutation)["errors"] == {"base_version": ["Missing data for required field."]}


def test_correction_repeating_the_team_id_is_allowed(store: MemoryStore) -> None:
    record_id = created(store)
    assert push_one(store, correct(record_id, 1, {"team_id": TEAM, "sex": "m"}))["status"] == "applied"


def test_correction_may_keep_a_site_that_was_deactivated_since(store: MemoryStore) -> None:
    record_id = created(store)
    store.sites["site-a"] = False
    assert push_one(store, correct(record_id, 1, {"sex": "m"}))["status"] == "applied"


def test_stale_correction_of_other_fields_merges(store: MemoryStore) -> None:
    record_id = created(store, "distribution")
    push_one(store, correct(record_id, 1, {"quantity": 5}, entity="distribution"))

    result = push_one(store, correct(record_id, 1, {"household_size": 4}, entity="distribution"))

    assert result["status"] == "applied" and result["version"] == 3
    assert store.records[record_id].data.items() >= {"quantity": 5, "household_size": 4}.items()


def test_stale_overlapping_correction_is_a_conflict_and_the_server_value_stays(store: MemoryStore) -> None:
    record_id = created(store, "distribution")
    push_one(store, correct(record_id, 1, {"quantity": 3}, entity="distribution"))
    state = store.records[record_id]
    stale = correct(record_id, 1, {"quantity": 2, "household_size": 4}, entity="distribution")

    result = push_one(store, stale)

    assert result == {"op_id": stale["op_id"], "status": "conflict", "id": record_id, "current_version": 2,
                      "current": {"quantity": 3}}  # fmt: skip
    assert store.records[record_id] == state  # nothing merged, not even the other field
    (conflict,) = store.conflicts
    assert (conflict.record_id, conflict.device_id, conflict.op_id) == (record_id, DEVICE.device_id, stale["op_id"])
    assert (conflict.base_version, conflict.current_version, conflict.current) == (1, 2, {"quantity": 3})
    assert conflict.mutation["data"] == stale["data"]

    assert push_one(store, stale) == result  # re-sent: same answer, no second conflict
    assert len(store.conflicts) == 1


def test_stale_correction_to_the_value_already_there_is_no_conflict(store: MemoryStore) -> None:
    record_id = created(store, "distribution")
    push_one(store, correct(record_id, 1, {"quantity": 3}, entity="distribution"))

    result = push_one(store, correct(record_id, 1, {"quantity": 3}, entity="distribution"))

    assert (result["status"], result["version"], result["seq"]) == ("applied", 2, 2)
    assert store.conflicts == []


def test_correction_that_changes_nothing_makes_no_new_version(store: MemoryStore) -> None:
    record_id = created(store)
    result = push_one(store, correct(record_id, 1, {"sex": "f"}))
    assert (result["status"], result["version"], result["seq"]) == ("applied", 1, 1)
    assert len(store.revisions) == 1 and len(store.changes) == 1


def test_correcting_age_years_rederives_the_band(store: MemoryStore) -> None:
    record_id = created(store, age_years=30)
    push_one(store, correct(record_id, 1, {"age_years": 65}))
    assert store.records[record_id].data.items() >= {"age_years": 65, "age_band": "60+"}.items()
    push_one(store, correct(record_id, 2, {"age_band": "5-17"}))
    assert "age_years" not in store.records[record_id].data
    assert store.records[record_id].data["age_band"] == "5-17"


def test_stale_age_correction_conflicts_with_a_band_change(store: MemoryStore) -> None:
    record_id = created(store)
    push_one(store, correct(record_id, 1, {"age_band": "60+"}))
    assert push_one(store, correct(record_id, 1, {"age_years": 3}))["status"] == "conflict"


def test_optional_field_is_removed_with_null(store: MemoryStore) -> None:
    record_id = created(store, beneficiary_ref="B-17")
    push_one(store, correct(record_id, 1, {"beneficiary_ref": None}))
    assert "beneficiary_ref" not in store.records[record_id].data
    assert store.revisions[-1].changes == {"beneficiary_ref": None}


def test_correction_of_a_voided_record_is_a_conflict(store: MemoryStore) -> None:
    record_id = created(store)
    push_one(store, void(record_id))

    result = push_one(store, correct(record_id, 2, {"sex": "m"}))

    assert result["status"] == "conflict"
    assert result["current"] == {"sex": "f", "status": "voided"} and result["current_version"] == 2
    assert store.records[record_id].status is RecordStatus.VOIDED


def test_correction_keeps_a_record_clock_suspect(store: MemoryStore) -> None:
    record_id = created(store, recorded_at=(NOW + timedelta(days=3)).isoformat())
    push_one(store, correct(record_id, 1, {"recorded_at": "2026-03-01T09:00:00+00:00"}))
    assert store.records[record_id].clock_suspect


# --- void -----------------------------------------------------------------


def test_void_is_a_new_version_and_leaves_the_aggregates(store: MemoryStore) -> None:
    record_id = created(store)
    mutation = void(record_id, reason="entered twice")

    result = push_one(store, mutation)

    record = store.records[record_id]
    assert result == {"op_id": mutation["op_id"], "status": "applied", "id": record_id, "version": 2, "seq": 2}
    assert record.status is RecordStatus.VOIDED and record.data["sex"] == "f"
    revision = store.revisions[-1]
    assert (revision.kind, revision.changes, revision.reason) == ("void", {"status": "voided"}, "entered twice")
    assert store.active_counts == {"consultation": 0}


def test_void_wins_over_a_concurrent_correction(store: MemoryStore) -> None:
    record_id = created(store)
    push_one(store, correct(record_id, 1, {"sex": "m"}))

    result = push_one(store, void(record_id, base_version=1))

    assert (result["status"], result["version"]) == ("applied", 3)
    assert store.records[record_id].status is RecordStatus.VOIDED


def test_void_without_base_version_is_accepted(store: MemoryStore) -> None:
    record_id = created(store)
    assert push_one(store, void(record_id, base_version=None))["status"] == "applied"


def test_voiding_a_voided_record_returns_the_current_version(store: MemoryStore) -> None:
    record_id = created(store)
    first = push_one(store, void(record_id))

    second = push_one(store, void(record_id, base_version=1))

    assert (second["status"], second["version"], second["seq"]) == ("applied", first["version"], first["seq"])
    assert len(store.revisions) == 2


def test_void_carrying_data_is_rejected(store: MemoryStore) -> None:
    record_id = created(store)
    result = push_one(store, void(record_id, data={"sex": "m"}))
    assert result["errors"] == {"data": ["Must be empty for void."]}
    assert store.records[record_id].status is RecordStatus.ACTIVE


# --- revoked devices --------------------------------------------------------


def test_quarantine_all_keeps_well_formed_mutations_without_applying_them(store: MemoryStore) -> None:
    record_id = created(store)
    good = [create(), correct(record_id, 1, {"sex": "m"}), void(record_id)]

    kept = quarantine_all(store, DEVICE, [*good, "junk", {"op_id": "x"}], now=NOW)

    assert kept == 3
    assert [q.raw for q in store.quarantined] == good
    assert {q.reason for q in store.quarantined} == {"device_revoked"}
    assert len(store.records) == 1 and store.records[record_id].version == 1 and store.seq == 1


def test_voided_record_travels_as_data_with_status(store: MemoryStore) -> None:
    # api.md: a voided record stays in the records stream with data.status "voided".
    record_id = created(store)
    push_one(store, void(record_id))
    wire = store.records[record_id].wire_data()
    assert wire["status"] == "voided" and wire["clock_suspect"] is False
    assert {k: wire[k] for k in ("site_id", "team_id", "occurred_on", "sex")} == {
        "site_id": "site-a",
        "team_id": TEAM,
        "occurred_on": "2026-03-01",
        "sex": "f",
    }
