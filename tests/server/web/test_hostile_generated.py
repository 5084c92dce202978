"""Generated hostile bodies on every JSON route, in process, on both engines (tests/hostile.py).

- Every field of every body (read from the OpenAPI document, so a new body is covered without a
  change here) gets every JSON type: never a 5xx; an error answer is the one envelope; a push
  answers 200 with each bad item `rejected` (the others applied), or a 4xx for a bad envelope.
- Lone surrogates, numbers beyond double range, NaN/Infinity and duplicate keys, placed by
  hypothesis at any field or object of any body: always 400 `malformed_request`.
- A revoked device: 403 `device_revoked` + `"wipe": true` for all of the above.
The counts are printed (`-s`) for the closing notes.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Conflict, QuarantinedMutation
from tests.factories import auth_headers, correct_mutation, create_mutation, make_device, make_token, make_user
from tests.hostile import (
    WRONG_TYPES,
    Operation,
    body_operations,
    envelope_problems,
    field_paths,
    mutation,
    policy_texts,
    push_envelope,
    replaced,
    valid_body,
)

PUSH = "/api/v1/sync/push"
ITEM_STATUSES = {"applied", "duplicate", "conflict", "rejected"}


class World:
    """Real ids to aim at (a conflict, a quarantined item), tokens, and the tally of answers."""

    def __init__(self, client: FlaskClient, session: Session) -> None:
        self.client = client
        self.device = make_device(session)
        self.revoked = make_device(session, revoked=True)
        self.admin = auth_headers(make_token(session, make_user(session, role="admin", countries=())))
        self.coordinator = auth_headers(make_token(session, make_user(session)))
        session.commit()
        created = create_mutation()
        self._push([created])
        self._push([correct_mutation(created["id"], 1, {"sex": "m"})])
        self._push([correct_mutation(created["id"], 1, {"sex": "x"}), {**create_mutation(), "kind": "undo"}])
        self.record_id = created["id"]
        session.expire_all()
        self.conflict_id = session.scalars(select(Conflict.id).order_by(Conflict.id.desc())).first()
        self.quarantine_id = session.scalars(select(QuarantinedMutation.id)
                                             .order_by(QuarantinedMutation.id.desc())).first()
        assert self.conflict_id and self.quarantine_id
        self.spec = client.get("/api/openapi.json").get_json()
        self.operations = body_operations(self.spec)
        self.tally: Counter[str] = Counter()
        self.failures: list[str] = []

    def _push(self, mutations: list[Any]) -> None:
        body = push_envelope(mutations)
        response = self.client.post(PUSH, json=body, headers={**self.device.headers,
                                                               "Idempotency-Key": body["batch_id"]})
        assert response.status_code == 200, response.get_data(as_text=True)

    def known_bodies(self) -> dict[str, Any]:
        fixed = mutation()
        return {
            "POST /api/v1/sync/push": push_envelope([mutation()]),
            "POST /api/v1/auth/token": {"username": "nobody-here", "password": "not the password"},
            "POST /api/v1/teams/{team_id}/enrollments": {"username": "worker-" + uuid.uuid4().hex[:6]},
            "POST /api/v1/devices/enroll": {"code": "ABCDE-FGHJK", "label": "tablet", "app_version": "1.4.0"},
            "POST /api/v1/conflicts/{conflict_id}/resolve": {"use": "server"},
            "POST /api/v1/quarantine/{quarantine_id}/discard": {"reason": "entered twice"},
            "POST /api/v1/quarantine/{quarantine_id}/apply": {"mutation": fixed},
        }

    def url(self, operation: Operation) -> str:
        return (operation.path.replace("{team_id}", "ly-mmt-tripoli")
                .replace("{conflict_id}", str(self.conflict_id))
                .replace("{quarantine_id}", str(self.quarantine_id))
                .replace("{device_id}", self.device.device.id)
                .replace("{record_id}", self.record_id))

    def headers(self, operation: Operation, body_batch_id: Any, *, revoked: bool = False) -> dict[str, str]:
        if operation.path.startswith("/api/v1/sync/"):
            device = self.revoked if revoked else self.device
            key = body_batch_id if isinstance(body_batch_id, str) and body_batch_id.isascii() else "k"
            return {**device.headers, "Idempotency-Key": key}
        if "{team_id}" in operation.path:
            return self.coordinator
        return self.admin

    def send(self, operation: Operation, text: str, category: str, *, revoked: bool = False) -> Any:
        batch_id = None
        with contextlib.suppress(ValueError, AttributeError):
            batch_id = json.loads(text).get("batch_id")
        response = self.client.open(self.url(operation), method=operation.method, data=text.encode("utf-8"),
                                    content_type="application/json",
                                    headers=self.headers(operation, batch_id, revoked=revoked))
        self.tally["requests"] += 1
        self.tally[f"{category}"] += 1
        self.tally[f"{response.status_code // 100}xx"] += 1
        where = f"{category} {operation.method} {operation.path}: {response.status_code}"
        if response.status_code >= 500:
            self.failures.append(f"{where} {response.get_data(as_text=True)[:300]} <- {text[:300]}")
        return response

    def summary(self, name: str, engine: str) -> str:
        return (f"\n[{name} {engine}] requests={self.tally['requests']} 5xx={self.tally['5xx']} "
                f"by class={dict(sorted((k, v) for k, v in self.tally.items() if k not in ('requests',)))}")


@pytest.fixture
def world(client: FlaskClient, session: Session) -> World:
    return World(client, session)


def _fresh_ids(body: Any, keep: str) -> Any:
    """New batch, op and record ids where the attacked field is not one of them, so each request is
    judged afresh instead of replayed."""
    if not isinstance(body, dict):
        return body
    if keep != "batch_id" and isinstance(body.get("batch_id"), str):
        body["batch_id"] = str(uuid.uuid4())
    return body


def test_every_field_of_every_body_with_every_json_type(world: World, engine_name: str) -> None:
    known = world.known_bodies()
    covered = set()
    # The push first: the admin routes' valid bodies edit reference data (a team's sites, a site's
    # activity) in this test's transaction, after which the push's good items would no longer apply.
    for operation in sorted(world.operations, key=lambda o: o.path != PUSH):
        base = valid_body(world.spec, operation, known)
        covered.add(f"{operation.method} {operation.path}")
        paths = field_paths(base, operation.properties)
        if operation.path == PUSH:
            # Inside `mutations`: one batch per field, one item per JSON type (plus a good item).
            paths = [p for p in paths if p[0] != "mutations" or len(p) == 1]
            _push_items_of_every_type(world, operation)
        for path in paths:
            for value in WRONG_TYPES:
                body = _fresh_ids(replaced(base, path, value), ".".join(map(str, path)))
                response = world.send(operation, json.dumps(body), "wrong_type")
                if response.status_code == 200 and operation.path == PUSH:
                    assert {r["status"] for r in response.get_json()["results"]} <= ITEM_STATUSES
                elif response.status_code >= 400:
                    world.failures += envelope_problems(response.status_code, response.get_json())
    print(world.summary("wrong types", engine_name))
    assert world.failures == []
    # Every JSON body of the API was attacked (new ones too: they get a body derived from their schema).
    assert covered == {f"{o.method} {o.path}" for o in world.operations} and len(covered) >= 7


def _push_items_of_every_type(world: World, operation: Operation) -> None:
    bases = [mutation("consultation"), mutation("distribution"), mutation("outreach"),
             mutation("consultation", kind="correct", id=world.record_id, base_version=1, data={"age_years": 31}),
             mutation("consultation", kind="void", id=world.record_id, base_version=3, data={})]
    for base in bases:
        for path in field_paths(base, ()):
            items = []
            for value in WRONG_TYPES:
                item = replaced(base, path, value)
                if path != ("op_id",):
                    item["op_id"] = str(uuid.uuid4())
                if path != ("id",) and base["kind"] == "create":
                    item["id"] = str(uuid.uuid4())
                items.append(item)
            good = mutation("outreach")
            body = push_envelope([*items, good])
            response = world.send(operation, json.dumps(body), "wrong_type_in_mutation")
            assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
            results = response.get_json()["results"]
            assert len(results) == len(items) + 1 and {r["status"] for r in results} <= ITEM_STATUSES, path
            assert results[-1]["status"] == "applied", (path, results[-1])
            for result in results[:-1]:
                if result["status"] == "rejected":
                    assert result["errors"] and all(isinstance(m, list) for m in result["errors"].values())


# Generated policy texts per operation (every category is drawn; the count bounds the suite's time).
POLICY_EXAMPLES = 45


@settings(max_examples=POLICY_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def _policy_examples(data: st.DataObject, world: World, operation: Operation, base: Any, revoked: bool) -> None:
    category, text = data.draw(policy_texts(base))
    response = world.send(operation, text, category, revoked=revoked)
    expected = (403, "device_revoked") if revoked else (400, "malformed_request")
    payload = response.get_json()
    got = (response.status_code, (payload or {}).get("error", {}).get("code"))
    if got != expected:
        world.failures.append(f"{category} {operation.path}: {got} <- {text[:300]}")
    elif revoked and payload.get("wipe") is not True:
        world.failures.append(f"{category}: no wipe")
    world.failures += envelope_problems(response.status_code, payload)


def test_refused_json_at_any_field_of_any_body_is_400(world: World, engine_name: str) -> None:
    known = world.known_bodies()
    for operation in world.operations:
        _policy_examples(world=world, operation=operation, base=valid_body(world.spec, operation, known),
                         revoked=False)
    print(world.summary("decode policy", engine_name))
    assert world.failures == []
    assert world.tally["requests"] >= POLICY_EXAMPLES * len(world.operations) * 0.9


def test_a_revoked_device_gets_its_wipe_for_every_generated_body(world: World, app: Flask, engine_name: str) -> None:
    push = next(o for o in world.operations if o.path == PUSH)
    base = push_envelope([mutation(), mutation("outreach")])
    _policy_examples(world=world, operation=push, base=base, revoked=True)
    # The envelope's fields and each mutation field (the rest of the data is the same class).
    for path in [p for p in field_paths(base, push.properties) if len(p) == 1 or (p[0] == "mutations" and len(p) <= 3)]:
        for value in WRONG_TYPES:
            response = world.send(push, json.dumps(replaced(base, path, value)), "wrong_type_revoked", revoked=True)
            if response.status_code != 403 or response.get_json().get("wipe") is not True:
                world.failures.append(f"revoked {path}={value!r}: {response.status_code}")
    print(world.summary("revoked device", engine_name))
    assert world.failures == []
