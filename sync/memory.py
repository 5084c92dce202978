"""In-memory :class:`~sync.store.RecordStore`: the executable spec of the contract.

Used by the unit tests. It copies records in and out, as a database would,
so a test cannot pass only because the engine mutated shared objects.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.domain import Errors, RecordState, RecordStatus, RememberedOp
from sync.text import without_nul


@dataclass(frozen=True)
class Revision:
    record_id: str
    version: int
    kind: str
    changes: dict[str, Any]
    reason: str | None
    device_id: str
    op_id: str
    at: datetime


@dataclass(frozen=True)
class Conflict:
    record_id: str
    device_id: str
    op_id: str
    base_version: int
    current_version: int
    mutation: dict[str, Any]
    current: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Quarantined:
    device_id: str
    raw: Any
    errors: Errors
    reason: str
    at: datetime


@dataclass
class MemoryStore:
    records: dict[str, RecordState] = field(default_factory=dict)
    ops: dict[str, RememberedOp] = field(default_factory=dict)
    revisions: list[Revision] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    # (before, after) pairs in call order; stands in for the SQL rollups.
    changes: list[tuple[RecordState | None, RecordState]] = field(default_factory=list)
    # active count per entity, maintained only through record_changed, so tests
    # can check the hook keeps an aggregate right.
    active_counts: dict[str, int] = field(default_factory=dict)
    sites: dict[str, bool] = field(default_factory=dict)  # site id -> active
    team_sites: dict[str, set[str]] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)  # code -> category
    services: set[str] = field(default_factory=set)
    seq: int = 0

    # --- reference data set-up (not part of the Protocol) ---------------
    def add_site(self, site_id: str, team_id: str, *, active: bool = True) -> None:
        self.sites[site_id] = active
        self.team_sites.setdefault(team_id, set()).add(site_id)

    def add_item(self, code: str, category: str) -> None:
        self.items[code] = category

    def add_service(self, code: str) -> None:
        self.services.add(code)

    # --- RecordStore ------------------------------------------------------
    def get_op(self, op_id: str) -> RememberedOp | None:
        return self.ops.get(op_id)

    def remember_op(self, op: RememberedOp) -> None:
        if op.op_id in self.ops:
            raise KeyError(f"op {op.op_id} already remembered")
        self.ops[op.op_id] = op

    def get_record(self, record_id: str) -> RecordState | None:
        record = self.records.get(record_id)
        return copy.deepcopy(record)

    def insert_record(self, record: RecordState) -> None:
        if record.id in self.records:
            raise KeyError(f"record {record.id} exists")
        self.records[record.id] = copy.deepcopy(record)

    def update_record(self, record: RecordState) -> None:
        if record.id not in self.records:
            raise KeyError(f"record {record.id} does not exist")
        self.records[record.id] = copy.deepcopy(record)

    def add_revision(
        self,
        *,
        record_id: str,
        version: int,
        kind: str,
        changes: dict[str, Any],
        reason: str | None,
        device_id: str,
        op_id: str,
        at: datetime,
    ) -> None:
        if any(r.record_id == record_id and r.version == version for r in self.revisions):
            raise KeyError(f"revision {record_id} v{version} exists")
        self.revisions.append(
            Revision(
                record_id,
                version,
                kind,
                copy.deepcopy(changes),
                reason,
                device_id,
                op_id,
                at,
            )
        )

    def fields_changed_since(self, record_id: str, version: int) -> set[str]:
        return {name for r in self.revisions if r.record_id == record_id and r.version > version for name in r.changes}

    def add_conflict(
        self,
        *,
        record_id: str,
        device_id: str,
        op_id: str,
        base_version: int,
        current_version: int,
        mutation: dict[str, Any],
        current: dict[str, Any],
        at: datetime,
    ) -> None:
        self.conflicts.append(
            Conflict(
                record_id,
                device_id,
                op_id,
                base_version,
                current_version,
                copy.deepcopy(mutation),
                copy.deepcopy(current),
                at,
            )
        )

    def quarantine(self, *, device_id: str, raw: Any, errors: Errors, reason: str, at: datetime) -> None:
        # Copies with NULs made visible, as the Protocol says (and the SQL store must).
        self.quarantined.append(Quarantined(device_id, without_nul(raw), without_nul(errors), reason, at))

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def site_belongs_to_team(self, site_id: str, team_id: str) -> bool:
        return site_id in self.team_sites.get(team_id, set())

    def site_is_active(self, site_id: str) -> bool:
        return self.sites.get(site_id, False)

    def item_category(self, code: str) -> str | None:
        return self.items.get(code)

    def service_exists(self, code: str) -> bool:
        return code in self.services

    def record_changed(self, before: RecordState | None, after: RecordState) -> None:
        self.changes.append((copy.deepcopy(before), copy.deepcopy(after)))
        if before is not None and before.status is RecordStatus.ACTIVE:
            self.active_counts[before.entity] = self.active_counts.get(before.entity, 0) - 1
        if after.status is RecordStatus.ACTIVE:
            self.active_counts[after.entity] = self.active_counts.get(after.entity, 0) + 1
