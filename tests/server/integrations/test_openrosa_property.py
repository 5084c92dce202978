"""Property: OpenRosa submissions and JSON pushes of one team, in any interleaving, give the aggregates
of the brute-force count (tests/server/aggregation/test_rollups.py) and leave the rollups verifiable: one engine.

Each example runs a random program of steps against the real HTTP routes: creates through either
door, OpenRosa edits (deprecatedID) and JSON corrections and voids, identical OpenRosa resends and
JSON batch replays, and a JSON create repeating a record Collect already sent. A model of the final
field values checks the records; the oracle checks every indicator over them.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.aggregation import verify
from server.aggregation.indicators import INDICATORS
from server.aggregation.query import aggregate
from server.integrations.openrosa.forms import served_form
from server.models import Record
from server.persistence.store import record_state
from tests.factories import correct_mutation, make_device, push_body, push_headers, void_mutation
from tests.openrosa_instances import fill, multipart
from tests.server.aggregation.test_rollups import brute_force, load_reference

TEAM, SITE = "ly-mmt-tripoli", "ly-mp-tripoli"
END = "2026-11-30T09:00:00.000+00:00"  # the form's `end`: recorded_at of OpenRosa records
GROUPINGS = [[], ["month"], ["sex", "year"], ["population_group"], ["age_band", "quarter"]]


def _values(draw: st.DrawFn, entity: str) -> dict[str, Any]:
    """Record fields as the JSON push sends them (Collect's strings are made from these)."""
    fields: dict[str, Any] = {
        "site_id": SITE,
        "occurred_on": (date(2016, 1, 1) + timedelta(days=draw(st.integers(0, 500)))).isoformat(),
        "population_group": draw(st.sampled_from(["refugee", "migrant", "idp"])),
        "sex": draw(st.sampled_from(["f", "m"])),
        "age_band": draw(st.sampled_from(["5-17", "18-59"])),
    }
    ref = draw(st.sampled_from([None, "p1", "p2"]))
    if ref:
        fields["beneficiary_ref"] = ref
    if entity == "consultation":
        fields.update(visit=draw(st.sampled_from(["new", "follow_up"])), service="general", referral=False)
    else:
        fields.update(item_code=draw(st.sampled_from(["hk-family", "blanket"])), quantity=draw(st.integers(1, 4)))
    return fields


def _as_collect(fields: dict[str, Any]) -> dict[str, Any]:
    wire = {key: value for key, value in fields.items()}
    if "referral" in wire:
        wire["referral"] = "yes" if wire["referral"] else "no"
    wire.setdefault("beneficiary_ref", "")
    return wire


class Program:
    def __init__(self, client: FlaskClient, device: Any) -> None:
        self.client = client
        self.device = device
        self.model: dict[str, dict[str, Any] | None] = {}  # record id -> final fields (None: voided)
        self.collect: dict[str, tuple[str, str, bytes]] = {}  # record id -> (entity, last instance id, last xml)
        self.json: dict[str, tuple[str, int]] = {}  # record id -> (entity, version)
        self.sent_batches: list[dict[str, Any]] = []

    def submit(self, xml: bytes) -> int:
        response = self.client.post(f"/openrosa/v1/key/{self.device.token}/submission", data=multipart(xml),
                                    content_type="multipart/form-data")
        return response.status_code

    def push(self, mutations: list[dict[str, Any]], body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or push_body(mutations)
        response = self.client.post("/api/v1/sync/push", json=body, headers=push_headers(self.device, body))
        assert response.status_code == 200, response.get_json()
        self.sent_batches.append(body)
        return response.get_json()

    def collect_create(self, entity: str, fields: dict[str, Any]) -> None:
        instance_id, xml = fill(served_form(f"fieldsync_{entity}").xml, _as_collect(fields), end=END)
        assert self.submit(xml) == 201
        self.model[instance_id] = fields
        self.collect[instance_id] = (entity, instance_id, xml)

    def collect_edit(self, record_id: str, fields: dict[str, Any]) -> None:
        entity, last, _ = self.collect[record_id]
        instance_id, xml = fill(served_form(f"fieldsync_{entity}").xml, _as_collect(fields), end=END,
                                deprecated_id=last)
        assert self.submit(xml) == 201
        self.model[record_id] = fields
        self.collect[record_id] = (entity, instance_id, xml)

    def collect_resend(self, record_id: str) -> None:
        assert self.submit(self.collect[record_id][2]) in (201, 202)

    def json_create(self, entity: str, fields: dict[str, Any]) -> None:
        record_id = str(uuid.uuid4())
        data = {**fields, "team_id": TEAM, "recorded_at": "2026-11-30T09:00:00Z"}
        mutation = {"op_id": str(uuid.uuid4()), "kind": "create", "entity": entity, "id": record_id, "data": data}
        (result,) = self.push([mutation])["results"]
        assert result["status"] == "applied", result
        self.model[record_id] = fields
        self.json[record_id] = (entity, 1)

    def json_correct(self, record_id: str, changes: dict[str, Any]) -> None:
        entity, version = self.json[record_id]
        (result,) = self.push([correct_mutation(record_id, version, changes, entity=entity)])["results"]
        assert result["status"] == "applied", result
        self.model[record_id] = {**(self.model[record_id] or {}), **changes}
        self.json[record_id] = (entity, result["version"])

    def json_void(self, record_id: str) -> None:
        entity, version = self.json.pop(record_id)
        (result,) = self.push([void_mutation(record_id, version, entity=entity)])["results"]
        assert result["status"] == "applied", result
        self.model[record_id] = None

    def json_repeat_of_collect(self, record_id: str) -> None:
        """The same record pushed as JSON after Collect sent it: a duplicate, counted once."""
        entity, instance_id, _ = self.collect[record_id]
        fields = self.model[record_id]
        if instance_id != record_id or fields is None:
            return  # edited since: its content is not the create's any more
        data = {**fields, "team_id": TEAM, "recorded_at": END}
        mutation = {"op_id": str(uuid.uuid4()), "kind": "create", "entity": entity, "id": record_id, "data": data}
        (result,) = self.push([mutation])["results"]
        assert result["status"] == "duplicate", result

    def json_replay(self) -> None:
        if self.sent_batches:
            body = self.sent_batches[-1]
            response = self.client.post("/api/v1/sync/push", json=body, headers=push_headers(self.device, body))
            assert response.status_code == 200 and response.headers.get("Idempotent-Replayed") == "true"


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_interleaving_of_openrosa_and_json_gives_the_brute_force_aggregates(
    client: FlaskClient, session: Session, data: st.DataObject
) -> None:
    device = make_device(session, team_id=TEAM)
    session.commit()
    program = Program(client, device)
    for _ in range(data.draw(st.integers(2, 10), label="steps")):
        step = data.draw(st.sampled_from(["collect", "json", "edit", "correct", "void", "resend", "replay", "repeat"]))
        entity = data.draw(st.sampled_from(["consultation", "distribution"]))
        if step == "collect" or (step == "edit" and not program.collect):
            program.collect_create(entity, _values(data.draw, entity))
        elif step == "json" or (step in ("correct", "void") and not program.json):
            program.json_create(entity, _values(data.draw, entity))
        elif step == "edit":
            record_id = data.draw(st.sampled_from(sorted(program.collect)))
            kind = program.collect[record_id][0]
            program.collect_edit(record_id, _values(data.draw, kind))
        elif step == "correct":
            record_id = data.draw(st.sampled_from(sorted(program.json)))
            program.json_correct(record_id, {"sex": data.draw(st.sampled_from(["f", "m", "x"])),
                                             "population_group": data.draw(st.sampled_from(["idp", "host"]))})
        elif step == "void":
            program.json_void(data.draw(st.sampled_from(sorted(program.json))))
        elif step == "repeat" and program.collect:
            program.json_repeat_of_collect(data.draw(st.sampled_from(sorted(program.collect))))
        elif step == "resend" and program.collect:
            program.collect_resend(data.draw(st.sampled_from(sorted(program.collect))))
        else:
            program.json_replay()

    rows = {row.id: row for row in session.scalars(select(Record).where(Record.device_id == device.device.id))}
    assert set(rows) == set(program.model)  # nothing lost, nothing doubled (edits are not new records)
    for record_id, fields in program.model.items():
        row = rows[record_id]
        if fields is None:
            assert row.status == "voided"
            continue
        state = record_state(row)
        content = {**state.data, "site_id": state.site_id, "occurred_on": state.occurred_on.isoformat()}
        assert {key: content.get(key) for key in fields} == fields, record_id
        assert "beneficiary_ref" in fields or content.get("beneficiary_ref") is None

    records = [record_state(row) for row in session.scalars(select(Record))]
    ref = load_reference(session)
    for indicator in INDICATORS:
        for group_by in GROUPINGS:
            if not set(group_by) <= set(indicator.dimensions):
                continue
            result = aggregate(session, indicator.code, group_by, {}, None, None)
            expected_rows, expected_total = brute_force(records, ref, indicator.code, group_by, {}, None, None)
            assert {tuple(r[g] for g in group_by): r["value"] for r in result.rows} == expected_rows
            assert result.total == expected_total
    assert verify.verify(session) == []
