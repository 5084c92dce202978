"""One `RecordStore` contract, every backend: MemoryStore, and SqlRecordStore on SQLite and PostgreSQL.

A test gets a `harness`: it opens stores, ends their transaction ("commit") and opens fresh ones
over what was committed, and reads back what the Protocol only writes (conflicts, quarantine,
aggregates), so one test body states one documented behaviour for all three backends (the shape
of Kinto's `kinto/core/storage/testing.py`). Reference data is the demo seed on every backend,
plus one inactive site, so reference answers can be compared one to one.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemas.records import record_validator
from server.extensions import db
from server.models import Conflict, QuarantinedMutation, RollupCell, Site, Team
from server.operations import seed
from server.operations.reference import set_team_sites, upsert
from server.persistence import events
from server.persistence.store import SqlRecordStore, apply_batch, unit_of_work
from server.persistence.timeutil import aware_utc
from sync.domain import DeviceContext, ItemResult, RecordState
from sync.memory import MemoryStore
from sync.push import apply_mutations
from sync.store import RecordStore

TEAM = "ly-mmt-tripoli"
OTHER_TEAM = "ly-mmt-benghazi"
# Not in the demo seed: a site of TEAM that exists but is closed, seeded alike on every backend.
CLOSED_SITE = "ly-contract-closed"
BACKENDS = ["memory", "sqlite", "postgresql"]
SQL = {"sqlite", "postgresql"}


class Harness(Protocol):
    backend: str
    device: DeviceContext

    def open(self, device: DeviceContext | None = None, *, seq_block: int = 1) -> RecordStore:
        """A store for a new transaction (the device's, unless another is named); `seq_block`: how
        many seqs the store may take from the counter at once (SqlRecordStore)."""
        ...

    def push(self, mutations: list[Any], *, now: datetime) -> tuple[list[ItemResult], list[tuple[int | None, int]]]:
        """One batch in a transaction of its own, through the engine as production runs it (the
        SQL store: `server.persistence.store.apply_batch`), committed: its results and the (before, after)
        versions of each record change it reported."""
        ...

    def commit(self) -> None:
        """End the transaction of the store opened last, keeping what it wrote."""
        ...

    def rollback(self) -> None:
        """End it after a failure (a store method raised, or the commit did)."""
        ...

    def conflicts(self) -> list[dict[str, Any]]:
        """Committed conflicts of this harness's devices, oldest first, as `sync.memory.Conflict` fields."""
        ...

    def quarantined(self) -> list[dict[str, Any]]:
        """Committed quarantine of this harness's devices, oldest first, as `sync.memory.Quarantined` fields."""
        ...

    def active_consultations(self) -> int:
        """Active consultations as the `record_changed` hook counted them (not from the records)."""
        ...


def reopen(harness: Harness, device: DeviceContext | None = None) -> RecordStore:
    harness.commit()
    return harness.open(device)


def new_device(team_id: str = TEAM) -> DeviceContext:
    # A device id of its own per test, so read-backs see only this test's rows.
    return DeviceContext(str(uuid.uuid4()), team_id, "LY")


class MemoryHarness:
    """MemoryStore has no transactions: every "new" store is the same object, a commit keeps
    everything and a rollback keeps everything too (its methods check before they write)."""

    backend = "memory"

    def __init__(self) -> None:
        self.device = new_device()
        self.store = MemoryStore()
        for site_id, *_ in seed.SITES:
            self.store.sites[site_id] = True
        for team_id, _name, _type, site_ids in seed.TEAMS:
            for site_id in site_ids:
                self.store.add_site(site_id, team_id)
        self.store.add_site(CLOSED_SITE, TEAM, active=False)
        for code, _name, category in seed.ITEMS:
            self.store.add_item(code, category)
        for code, _name in seed.SERVICES:
            self.store.add_service(code)

    def open(self, device: DeviceContext | None = None, *, seq_block: int = 1) -> RecordStore:
        return self.store

    def push(self, mutations: list[Any], *, now: datetime) -> tuple[list[ItemResult], list[tuple[int | None, int]]]:
        changes: list[tuple[int | None, int]] = []
        results = apply_mutations(_HookSpy(self.store, changes), self.device, mutations,
                                  validate=record_validator(now.date()), now=now, client_time=now)
        return results, changes

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def conflicts(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(conflict) for conflict in self.store.conflicts]

    def quarantined(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(kept) for kept in self.store.quarantined]

    def active_consultations(self) -> int:
        return self.store.active_counts.get("consultation", 0)


class SqlHarness:
    """SqlRecordStore in the test's rolled-back transaction: a commit releases the test session's
    SAVEPOINT and a new session (on the same connection) serves the next store."""

    def __init__(self, backend: str, now: datetime) -> None:
        self.backend = backend
        self.device = new_device()
        self.now = now
        self.store: SqlRecordStore | None = None
        self._unit: ExitStack | None = None
        session = db.session()
        upsert(session, Site, CLOSED_SITE, id=CLOSED_SITE, area_id=seed.area_id("Tripoli"), name="Closed site",
               site_type="mobile_point", active=False)
        team = session.get(Team, TEAM)
        assert team is not None
        set_team_sites(session, team, [*team.site_ids, CLOSED_SITE])
        self._baseline = self._health_consultations(session)
        session.commit()
        db.session.remove()

    def open(self, device: DeviceContext | None = None, *, seq_block: int = 1) -> RecordStore:
        # The store's one way in: its unit of work, left at `commit()` (which writes the staged rows).
        self._unit = ExitStack()
        self.store = self._unit.enter_context(unit_of_work(db.session(), device or self.device,
                                                          batch_id=str(uuid.uuid4()), now=self.now,
                                                          seq_block=seq_block))
        return self.store

    def push(self, mutations: list[Any], *, now: datetime) -> tuple[list[ItemResult], list[tuple[int | None, int]]]:
        changes: list[tuple[int | None, int]] = []
        _recording.append(changes)
        try:
            results = apply_batch(db.session(), self.device, mutations, batch_id=str(uuid.uuid4()), now=now,
                                  client_time=now)
        finally:
            _recording.remove(changes)
        self.commit()
        return results, changes

    def commit(self) -> None:
        unit, self._unit, self.store = self._unit, None, None
        if unit is not None:
            unit.close()  # the unit of work writes what the store staged
        db.session.commit()
        db.session.remove()

    def rollback(self) -> None:
        # A store method or the commit raised: the unit of work is abandoned, its staged rows unwritten.
        self._unit = self.store = None
        db.session.rollback()
        db.session.remove()

    def conflicts(self) -> list[dict[str, Any]]:
        rows = db.session().scalars(select(Conflict).where(Conflict.device_id == self.device.device_id)
                                    .order_by(Conflict.id))
        return [{"record_id": row.record_id, "device_id": row.device_id, "op_id": row.op_id,
                 "base_version": row.base_version, "current_version": row.current_version,
                 "mutation": row.mutation, "current": row.current, "at": aware_utc(row.created_at)}
                for row in rows]

    def quarantined(self) -> list[dict[str, Any]]:
        rows = db.session().scalars(select(QuarantinedMutation)
                                    .where(QuarantinedMutation.device_id == self.device.device_id)
                                    .order_by(QuarantinedMutation.id))
        return [{"device_id": row.device_id, "raw": row.mutation, "errors": row.errors, "reason": row.reason,
                 "at": aware_utc(row.created_at)} for row in rows]

    def active_consultations(self) -> int:
        return self._health_consultations(db.session()) - self._baseline

    @staticmethod
    def _health_consultations(session: Session) -> int:
        # The COUNT indicator of consultations, its fine cells only (not the ":place" twins).
        total = session.scalar(select(func.coalesce(func.sum(RollupCell.value), 0))
                               .where(RollupCell.indicator == "health_consultations"))
        return int(total or 0)


NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class _HookSpy:
    """MemoryStore with each `record_changed` (before, after) version noted, passed through."""

    def __init__(self, store: RecordStore, calls: list[tuple[int | None, int]]) -> None:
        self._store = store
        self._calls = calls

    def record_changed(self, before: RecordState | None, after: RecordState) -> None:
        self._calls.append((before.version if before is not None else None, after.version))
        self._store.record_changed(before, after)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# The SQL store reports record changes as change events (server/persistence/events.py): one
# subscriber, registered once, notes them for the `push` being recorded.
_recording: list[list[tuple[int | None, int]]] = []


def _record_changes(batch: events.ChangeBatch) -> None:
    for calls in _recording:
        calls.extend((change.before.version if change.before is not None else None, change.after.version)
                     for change in batch.changes)


events.subscribe(_record_changes)


@pytest.fixture(params=BACKENDS, ids=["memory", "sql-sqlite", "sql-postgresql"])
def engine_name(request: pytest.FixtureRequest) -> str:
    """Overrides the root conftest's: "memory" too. The database (`app`) is built only for SQL."""
    return request.param


@pytest.fixture
def harness(request: pytest.FixtureRequest, engine_name: str) -> Iterator[Harness]:
    if engine_name == "memory":
        yield MemoryHarness()
        return
    request.getfixturevalue("app")  # the engine's migrated, seeded database, rolled back after the test
    yield SqlHarness(engine_name, NOW)


def xfail_on(request: pytest.FixtureRequest, harness: Harness, backends: set[str], reason: str) -> None:
    """Mark a documented behaviour these backends do not have: strict, so a fix shows up as XPASS."""
    if harness.backend in backends:
        # raises=AssertionError: only the documented behaviour being absent counts, not a crash.
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError))
