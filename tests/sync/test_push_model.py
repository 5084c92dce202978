"""Random sequences of pushes checked against a small model of api.md's rules.

Batches of creates, fresh/stale/ahead corrections (overlapping or not),
voids and re-sent ops, plus whole-batch replays, over a few record ids. The
model predicts every item's exact wire result; afterwards the store must
hold each record once, at the model's state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sync.batches import BatchStatus, New, Replay, StoredBatch, decide
from sync.domain import RecordStatus
from sync.fingerprint import fingerprint
from tests.sync.test_push import distribution, make_store, push

RECORD_IDS = [str(uuid.UUID(int=n)) for n in (1, 2)]
FIELD_VALUES = {"quantity": [1, 2, 3], "household_size": [1, 2], "sex": ["f", "m"]}


@dataclass
class ModelRecord:
    fields: dict[str, Any]
    version: int = 1
    seq: int = 0
    voided: bool = False
    changed_at: dict[str, int] = field(default_factory=dict)  # field -> version that last changed it


@dataclass
class Model:
    records: dict[str, ModelRecord] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # op_id -> first wire result
    seq: int = 0

    def predict(self, op: dict[str, Any]) -> dict[str, Any]:
        op_id = op["op_id"]
        if op_id in self.outcomes:
            original = self.outcomes[op_id]
            return original if original["status"] == "conflict" else {**original, "status": "duplicate"}
        result = getattr(self, op["kind"])(op)
        if result["status"] != "rejected":
            self.outcomes[op_id] = result
        return result

    def _result(self, op: dict[str, Any], record: ModelRecord, status: str = "applied") -> dict[str, Any]:
        return {"op_id": op["op_id"], "status": status, "id": op["id"], "version": record.version, "seq": record.seq}

    def _rejected(self, op: dict[str, Any]) -> dict[str, Any]:
        return {"op_id": op["op_id"], "status": "rejected"}  # errors compared by key only

    def _new_version(self, record: ModelRecord) -> None:
        self.seq += 1
        record.version += 1
        record.seq = self.seq

    def create(self, op: dict[str, Any]) -> dict[str, Any]:
        record = self.records.get(op["id"])
        if record is not None:
            same = record.fields == {f: op["data"][f] for f in FIELD_VALUES}
            return self._result(op, record, "duplicate") if same else self._rejected(op)
        self.seq += 1
        record = ModelRecord({f: op["data"][f] for f in FIELD_VALUES}, seq=self.seq)
        record.changed_at = dict.fromkeys(FIELD_VALUES, 1)
        self.records[op["id"]] = record
        return self._result(op, record)

    def correct(self, op: dict[str, Any]) -> dict[str, Any]:
        record = self.records.get(op["id"])
        if record is None or op["base_version"] > record.version:
            return self._rejected(op)
        changes = {f: v for f, v in op["data"].items() if record.fields[f] != v}
        if record.voided:
            current = {**{f: record.fields[f] for f in op["data"]}, "status": "voided"}
            return self._conflict(op, record, current)
        overlap = {f for f in changes if record.changed_at[f] > op["base_version"]}
        if overlap:
            return self._conflict(op, record, {f: record.fields[f] for f in overlap})
        if changes:
            self._new_version(record)
            record.fields.update(changes)
            record.changed_at.update(dict.fromkeys(changes, record.version))
        return self._result(op, record)

    def _conflict(self, op: dict[str, Any], record: ModelRecord, current: dict[str, Any]) -> dict[str, Any]:
        return {"op_id": op["op_id"], "status": "conflict", "id": op["id"], "current_version": record.version,
                "current": current}  # fmt: skip

    def void(self, op: dict[str, Any]) -> dict[str, Any]:
        record = self.records.get(op["id"])
        if record is None or op["base_version"] > record.version:
            return self._rejected(op)
        if not record.voided:
            self._new_version(record)
            record.voided = True
        return self._result(op, record)


def _op(kind: str, record_id: str, **rest: Any) -> dict[str, Any]:
    return {"op_id": str(uuid.uuid4()), "kind": kind, "entity": "distribution", "id": record_id, **rest}


@st.composite
def new_op(draw: st.DrawFn, model: Model, sent: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = ["create", "correct", "void"] + (["resend"] if sent else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "resend":
        return draw(st.sampled_from(sent))
    record_id = draw(st.sampled_from(RECORD_IDS))
    if kind == "create":
        # Two contents per id: re-creating is then either identical or a collision.
        quantity = draw(st.sampled_from([1, 2]))
        return _op("create", record_id, data=distribution(quantity=quantity, household_size=1))
    known = model.records.get(record_id)
    version = known.version if known else 1
    base = draw(st.sampled_from(["fresh", "stale", "stale", "ahead"]))
    base_version = {"fresh": version, "stale": draw(st.integers(1, version)), "ahead": version + 1}[base]
    if kind == "void":
        return _op("void", record_id, base_version=base_version)
    names = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=2, unique=True))
    data = {name: draw(st.sampled_from(FIELD_VALUES[name])) for name in names}
    return _op("correct", record_id, base_version=base_version, data=data)


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    # The model does not restate messages; the rejected fields are covered by unit tests.
    return {"op_id": result["op_id"], "status": "rejected"} if result["status"] == "rejected" else result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_push_sequences_match_the_model(data: st.DataObject) -> None:
    store, model = make_store(), Model()
    sent: list[dict[str, Any]] = []
    batches: list[tuple[StoredBatch, list[dict[str, Any]]]] = []  # (stored, body) in push order
    applied_seqs: list[int] = []

    for _ in range(data.draw(st.integers(1, 12), label="batches")):
        if batches and data.draw(st.booleans(), label="replay"):
            stored, ops = data.draw(st.sampled_from(batches))
            # Same key and body: the stored response, without touching the store.
            assert decide(stored, fingerprint(ops)) == Replay(stored.response or {})
            # The same ops under a new key (the client lost the response and
            # started over): each op is judged as a re-send by the model.
        else:
            ops = [data.draw(new_op(model, sent)) for _ in range(data.draw(st.integers(1, 3)))]
        assert decide(None, fingerprint(ops)) == New()
        all_resent = all(op["op_id"] in model.outcomes for op in ops)
        before = (store.seq, len(store.revisions), len(store.conflicts), len(store.changes), len(store.ops))
        expected = [model.predict(op) for op in ops]
        results = push(store, *ops)
        assert [_comparable(r) for r in results] == expected
        if all_resent:  # re-sent ops never change anything
            assert (store.seq, len(store.revisions), len(store.conflicts), len(store.changes), len(store.ops)) == before
        batches.append((StoredBatch(fingerprint(ops), BatchStatus.DONE, {"results": results}), ops))
        sent.extend(ops)
        for op, result in zip(ops, results, strict=True):
            event(f"{op['kind']} -> {result['status']}")
            # A new version's seq is unseen and above every seq handed out before it.
            if result["status"] == "applied" and result["seq"] not in applied_seqs:
                assert result["seq"] > max(applied_seqs, default=0)
                applied_seqs.append(result["seq"])

    assert set(store.records) == set(model.records)
    for record_id, expected_record in model.records.items():
        record = store.records[record_id]
        assert record.version == expected_record.version
        assert record.seq == expected_record.seq
        assert (record.status is RecordStatus.VOIDED) is expected_record.voided
        assert {f: record.data[f] for f in FIELD_VALUES} == expected_record.fields
        # version = applied changes + 1: one revision per version, numbered 1..version
        versions = sorted(r.version for r in store.revisions if r.record_id == record_id)
        assert versions == list(range(1, record.version + 1))
    assert store.seq == model.seq
    active = sum(not r.voided for r in model.records.values())
    assert store.active_counts.get("distribution", 0) == active
    assert len(store.ops) == len(model.outcomes)
