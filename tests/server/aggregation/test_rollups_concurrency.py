"""Rollups stay exact when several tablets push at once through the real push endpoint (committed
transactions, one thread per tablet, the same people seen by two teams), on both engines."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from server.aggregation import verify
from server.aggregation.query import aggregate
from server.extensions import db
from server.models import Record
from server.persistence.store import record_state
from tests.factories import (
    consultation_data,
    correct_mutation,
    create_mutation,
    distribution_data,
    make_device,
    push_body,
    void_mutation,
)
from tests.server.aggregation.test_rollups import brute_force, load_reference

TABLETS = {"ly-mmt-tripoli": "ly-mp-tripoli", "ly-mmt-benghazi": "ly-mp-benghazi"}
PEOPLE = ["a", "b", "c"]  # few, so concurrent pushes keep touching the same person-months


def _data(rng: random.Random, team: str) -> tuple[str, dict[str, Any]]:
    day = date(2016, 1, 1) + timedelta(days=rng.randrange(90))
    common = {"team_id": team, "site_id": TABLETS[team], "occurred_on": day.isoformat()}
    extra = {"beneficiary_ref": rng.choice(PEOPLE)} if rng.random() < 0.8 else {}
    if rng.random() < 0.6:
        return "consultation", consultation_data(**common, **extra)
    return "distribution", distribution_data(**common, **extra, item_code=rng.choice(["hk-family", "blanket"]))


def _tablet(app: Flask, headers: dict[str, str], team: str, seed: int) -> None:
    rng = random.Random(seed)
    client = app.test_client()
    mine: list[tuple[str, str, int]] = []  # (entity, id, version)
    for _ in range(4):
        mutations = []
        for _ in range(8):
            entity, data = _data(rng, team)
            mutation = create_mutation(entity, data)
            mutations.append(mutation)
        touched = rng.sample(mine, min(len(mine), 4))
        for entity, record_id, version in touched:
            if rng.random() < 0.5:
                mutations.append(void_mutation(record_id, version, entity=entity))
            else:
                day = (date(2016, 1, 1) + timedelta(days=rng.randrange(90))).isoformat()
                mutations.append(correct_mutation(record_id, version, {"occurred_on": day}, entity=entity))
        body = push_body(mutations)
        response = client.post("/api/v1/sync/push", json=body,
                               headers={**headers, "Idempotency-Key": str(body["batch_id"])})
        assert response.status_code == 200, response.get_json()
        touched_ids = {record_id for _, record_id, _ in touched}
        mine = [m for m in mine if m[1] not in touched_ids]
        for mutation, result in zip(mutations, response.get_json()["results"], strict=True):
            assert result["status"] == "applied", result
            if mutation["kind"] != "void":
                mine.append((mutation["entity"], result["id"], result["version"]))


def test_verify_passes_after_concurrent_pushes(committed_app: Flask) -> None:
    with committed_app.app_context():
        enrolled = [make_device(db.session, team_id=team) for team in TABLETS for _ in range(2)]
        devices = [(e.headers, e.device.team_id) for e in enrolled]  # plain values: sessions end here
        db.session.commit()
        db.session.remove()

    def run(index: int) -> None:
        with committed_app.app_context():
            _tablet(committed_app, *devices[index], seed=index + uuid.uuid4().int % 1000)

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        for future in [pool.submit(run, index) for index in range(len(devices))]:
            future.result()

    with committed_app.app_context():
        session = db.session
        assert verify.verify(session) == []
        records = [record_state(row) for row in session.execute(select(Record)).scalars()]
        assert any(r.status.value == "voided" for r in records)
        ref = load_reference(session)
        for indicator, group_by in [("people_consulted", ["month", "team"]), ("hygiene_kit_recipients", []),
                                    ("health_consultations", ["area"])]:
            result = aggregate(session, indicator, group_by, {})
            rows, total = brute_force(records, ref, indicator, group_by, {}, None, None)
            assert {tuple(r[g] for g in group_by): r["value"] for r in result.rows} == rows
            assert result.total == total
        db.session.remove()
