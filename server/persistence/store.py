"""`SqlRecordStore`: the sync engine's `RecordStore` over one SQLAlchemy session.

The engine (sync/push.py) never commits; this store only reads and stages writes inside the
request's transaction, which the write envelope (server/intake/envelope.py) runs once per batch.

Two choices shape it:
- **Preloading.** A batch of 200 creates would otherwise cost 400 point queries (op memory, record
  existence) before it writes anything. `_preload_items` reads the ops and records a batch names in two
  queries and answers later lookups from that cache, kept up to date by the store's own writes so
  items still see the effects of earlier items of the batch.
- **Write order.** Records are kept as `RecordState`s (later items of the batch read them from the
  cache) and, with rollup changes, revisions, op memory, conflicts and quarantine rows, written by
  `_flush()` once per batch with Core statements: the records first (one multi-row INSERT for new
  ones, one executemany UPDATE for changed ones), then the rollups of all the batch's changes in
  one `rollups.apply_changes` (they read the records), then conflicts and quarantine. The rollups'
  upserts, revisions and op memory are staged (server/persistence/staged.py) with the intake's
  ledger row, which the envelope writes last: one statement on PostgreSQL, one executemany per
  table on SQLite (revisions reference records by foreign key, so records come first).
- **Seqs.** On PostgreSQL the op memory preload also reads the transaction's first seq, so taking
  the batch's block costs no statement (server/persistence/seq.py). It gives the transaction its
  id a little earlier than the flush would: readers' horizon waits for it from then on.

`apply_batch` and `quarantine_batch` below are the only ways callers run the store: its lifecycle
(preload, apply, flush, settle) in one call, through `unit_of_work` (the store's contract tests
open it directly). The lifecycle methods are private.

Lock order on PostgreSQL, the same for every batch so two pushes cannot deadlock: the batch's
records (`_preload_items`, `SELECT ... FOR UPDATE` in id order), then whatever the rollups update
(at `_flush()`: people's advisory locks, then, staged, facts, cells and distinct cells, each in
sorted order). Seqs take no lock on
PostgreSQL (server/persistence/seq.py: they come from the transaction's id, and readers stop at the
horizon); on SQLite the one writer holds the counter with everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import String, any_, bindparam, insert, literal_column, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from schemas.records import record_validator
from server.models import AppliedOp, Conflict, QuarantinedMutation, Record, RecordRevision
from server.persistence.events import ChangeBatch, RecordChange, publish
from server.persistence.reference_cache import ReferenceSnapshot, read_stamp, reference_snapshot
from server.persistence.seq import PG_FIRST_SQL, reserve_seqs
from server.persistence.staged import StagedTable, StagedWrites
from server.persistence.timeutil import aware_utc, naive_utc
from sync.domain import DeviceContext, Entity, Errors, ItemResult, RecordState, RecordStatus, RememberedOp
from sync.push import apply_mutations, canonical_uuid, quarantine_all
from sync.text import without_nul

# Keys of the JSON kept in applied_ops.outcome.
_FINGERPRINT = "fingerprint"
_RESULT = "result"
# Longest op_id echoed into quarantine.op_id (the column's size); a raw item may send anything.
_QUARANTINE_OP_ID_MAX = 200


def record_state(row: Any) -> RecordState:
    """The engine's view of a stored record, from a `Record` or a row of `records` (a copy: the
    engine builds new states from it)."""
    return RecordState(
        id=row.id,
        entity=Entity(row.entity),
        team_id=row.team_id,
        site_id=row.site_id,
        occurred_on=row.occurred_on,
        recorded_at=row.recorded_at,
        version=row.version,
        status=RecordStatus(row.status),
        seq=row.seq,
        clock_suspect=row.clock_suspect,
        data=json_copy(row.data),
        device_id=row.device_id or "",
        received_at=aware_utc(row.received_at),
    )


def record_row(state: RecordState, now: datetime) -> dict[str, Any]:
    """The `records` row of a state."""
    return {
        "id": state.id,
        "entity": state.entity.value,
        "team_id": state.team_id,
        "site_id": state.site_id,
        "occurred_on": state.occurred_on,
        "recorded_at": state.recorded_at,
        # Denormalised columns: aggregates and distinct-person counts filter on them.
        "population_group": state.data.get("population_group"),  # trainings have none
        "beneficiary_ref": state.data.get("beneficiary_ref"),
        "data": state.data,
        "version": state.version,
        "seq": state.seq,
        "status": state.status.value,
        "clock_suspect": state.clock_suspect,
        "device_id": state.device_id or None,
        "received_at": naive_utc(state.received_at),
        "updated_at": now,
    }


_RECORDS = Record.__table__
_OPS = AppliedOp.__table__
# What op memory needs of an applied op (not its batch or record columns).
_REMEMBERED = select(_OPS.c.op_id, _OPS.c.device_id, _OPS.c.outcome)
# The preloads, built once with an expanding IN: building and cache-keying a statement per batch
# cost a one-record submission more than running it.
_REMEMBERED_IN = _REMEMBERED.where(_OPS.c.op_id.in_(bindparam("keys", expanding=True)))
# PostgreSQL: the keys as one array (`= ANY`), not an expanding IN of 500 placeholders, whose text
# psycopg parses anew on every run (too long for its cache: ~3 ms of a 500-record batch each). With
# this transaction's first seq (server/persistence/seq.py) in every row, so the batch's seqs cost
# no statement of their own; one row with NULL op columns when none is remembered (a first
# submission): the outer join keeps the seq's row.
_PG_KEYS = bindparam("keys", type_=postgresql.ARRAY(String))
_ONE_ROW = select(literal_column("1").label("one")).subquery("one_row")
_PG_REMEMBERED_WITH_SEQ = (
    select(literal_column(PG_FIRST_SQL).label("first_seq"), _OPS.c.op_id, _OPS.c.device_id, _OPS.c.outcome)
    .select_from(_ONE_ROW.outerjoin(_OPS, _OPS.c.op_id == any_(_PG_KEYS)))
)
_PG_REMEMBERED = _REMEMBERED.where(_OPS.c.op_id == any_(_PG_KEYS))
_RECORDS_IN = select(_RECORDS).where(_RECORDS.c.id.in_(bindparam("keys", expanding=True))).order_by(_RECORDS.c.id)
_PG_RECORDS_LOCKED = select(_RECORDS).where(_RECORDS.c.id == any_(_PG_KEYS)).order_by(_RECORDS.c.id).with_for_update()
# An UPDATE of every column by id, for executemany (the id under its own bind name: SQLAlchemy
# reserves the column names for the SET clause).
_UPDATE_RECORD = (
    update(_RECORDS)
    .where(_RECORDS.c.id == bindparam("record_key"))
    .values({name: bindparam(name) for name in _RECORDS.c.keys() if name != "id"})  # noqa: SIM118
)


# Staged (server/persistence/staged.py): written with the rollups and the intake's ledger row in
# one statement on PostgreSQL, after the rollups' people locks; new records first.
RECORDS = StagedTable(_RECORDS, order=0)
REVISIONS = StagedTable(RecordRevision.__table__, order=40)
APPLIED_OPS = StagedTable(_OPS, order=50)


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): `copy.deepcopy` keeps a memo for cycles
    and shared objects JSON cannot have, and cost more than anything else the store does per item."""
    if isinstance(value, dict):
        # Scalars are immutable and shared as they are: no call per field of a flat record's data.
        return {key: item if type(item) in _JSON_SCALARS else json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [item if type(item) in _JSON_SCALARS else json_copy(item) for item in value]
    return value


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _shallow(state: RecordState, **changes: Any) -> RecordState:
    """A copy of the state object (its data shared), with `changes`: `dataclasses.replace` runs
    __init__ through keyword arguments, and its three calls per record were a tenth of a 500-record
    batch's store time. RecordState is a plain dataclass (no __post_init__, no slots)."""
    copy = object.__new__(RecordState)
    copy.__dict__.update(state.__dict__, **changes)
    return copy


def _copy(state: RecordState) -> RecordState:
    return _shallow(state, data=json_copy(state.data))


class SqlRecordStore:
    """The `sync.store.RecordStore` of one push batch, in the caller's transaction."""

    def __init__(self, session: Session, device: DeviceContext, *, batch_id: str | None, now: datetime,
                 late_seqs: bool = False, reference: ReferenceSnapshot | None = None,
                 staged: StagedWrites | None = None) -> None:
        self.session = session
        # Where revisions and op memory are staged; the caller flushes it (with its own rows).
        self.staged = staged if staged is not None else StagedWrites(session)
        self.device = device
        self.batch_id = batch_id
        self.now = naive_utc(now)
        self._locking = session.get_bind().dialect.name == "postgresql"
        # None caches "known not to exist", so a miss is not queried twice.
        self._ops: dict[str, RememberedOp | None] = {}
        # Records as states, written with Core statements at `_flush()`: the batch's new ones
        # (one multi-row INSERT) and its changed existing ones (one executemany UPDATE).
        self._records: dict[str, RecordState | None] = {}
        self._new_records: dict[str, RecordState] = {}
        self._changed_records: dict[str, RecordState] = {}
        self._revisions: list[dict[str, Any]] = []
        self._new_ops: list[dict[str, Any]] = []
        self._conflicts: list[dict[str, Any]] = []
        self._quarantined: list[dict[str, Any]] = []
        self._changes: list[tuple[RecordState | None, RecordState]] = []
        self._seqs: Iterator[int] = iter(())
        self._seq_block = 1
        # Late seqs (see `next_seq`): how many provisional ones were handed out, and what each
        # became at `_flush()`.
        self._late_seqs = late_seqs
        self._provisional = 0
        self._settled: dict[int, int] = {}
        # PostgreSQL: this transaction's first seq, when the op memory preload read it.
        self._first_seq: int | None = None
        self._reference = reference

    # --- batch set-up and tear-down (not part of the Protocol) ----------
    def _preload_items(self, items: Iterable[tuple[str | None, str | None]], *, mutation_count: int = 1) -> None:
        """Read (and on PostgreSQL lock) everything the batch's items name, from each item's
        (op id, record id), in two queries; only the records of items whose op is not remembered: a
        remembered op is answered from op memory alone, so a re-sent batch (a tablet retrying after a
        dropped connection) reads no record.

        `mutation_count` sizes the block of seqs taken at the first `next_seq`: each item makes
        at most one new version, so one counter update serves the whole batch. Unused seqs are
        gaps, which pull tolerates (cursors are "strictly after", never "next")."""
        items = list(items)
        self._seq_block = max(1, mutation_count)
        self._preload_ops(op_id for op_id, _ in items if op_id)
        self._preload_records(record_id for op_id, record_id in items
                              if record_id and (op_id is None or self._ops.get(op_id) is None))

    def _preload_ops(self, op_ids: Iterable[str]) -> None:
        op_ids = sorted(set(op_ids))
        for number, chunk in enumerate(chunks(op_ids)):
            if number == 0 and self._locking:
                for row in self.session.execute(_PG_REMEMBERED_WITH_SEQ, {"keys": list(chunk)}):
                    self._first_seq = int(row.first_seq)
                    if row.op_id is not None:
                        self._ops[row.op_id] = _remembered(row)
                continue
            statement = _PG_REMEMBERED if self._locking else _REMEMBERED_IN
            for row in self.session.execute(statement, {"keys": list(chunk)}):
                self._ops[row.op_id] = _remembered(row)
        self._ops.update({op_id: None for op_id in op_ids if op_id not in self._ops})

    def _preload_records(self, record_ids: Iterable[str]) -> None:
        record_ids = sorted(set(record_ids))
        for chunk in chunks(record_ids):
            statement = _PG_RECORDS_LOCKED if self._locking else _RECORDS_IN
            for row in self.session.execute(statement, {"keys": list(chunk)}):
                self._records[row.id] = record_state(row)
        self._records.update({record_id: None for record_id in record_ids if record_id not in self._records})

    def _flush(self) -> None:
        """Write the records (one multi-row INSERT, one executemany UPDATE), then publish the
        changes (the rollups read `records`; they stage their upserts), write conflicts and
        quarantine rows, and stage revisions and op memory in `self.staged`, which the caller
        flushes. All in the caller's transaction, so they commit together."""
        self._settle_seqs()
        self.session.flush()
        if self._new_records:
            # Staged, first of the tail: nothing reads them before the tail is written but the
            # rollups' recount of a corrected person-month, which flushes the staged rows first.
            self.staged.add(RECORDS, [record_row(state, self.now) for state in self._new_records.values()])
            self._new_records.clear()
        if self._changed_records:
            self.session.execute(_UPDATE_RECORD, [{**record_row(state, self.now), "record_key": state.id}
                                                  for state in self._changed_records.values()])
            self._changed_records.clear()
        if self._changes:
            # Published after the records are written (subscribers read them) and before what
            # references them; rollups are one subscriber (server/aggregation/rollups.py).
            changes = [RecordChange(before, self._with_settled_seq(after)) for before, after in self._changes]
            self._changes.clear()
            publish(ChangeBatch(self.session, self.device, self.reference, changes, self.staged))
        if self._quarantined:
            # Their `quarantine` stream's seqs in one block, in the rows' order: the column default
            # (server/models/sync.py), which other writers rely on, would take one per row.
            block = reserve_seqs(self.session, len(self._quarantined), first=self._first_seq)
            for row, seq in zip(self._quarantined, block, strict=True):
                row["seq"] = seq
        for model, rows in ((Conflict, self._conflicts), (QuarantinedMutation, self._quarantined)):
            if rows:
                # The table, not the model: a Core executemany, without the ORM's bulk-insert layer.
                # Written now, not staged: rare, and quarantine rows' JSON may be any JSON value.
                self.session.execute(insert(model.__table__), rows)
                rows.clear()
        self.staged.add(REVISIONS, self._revisions)
        self.staged.add(APPLIED_OPS, self._new_ops)
        self._revisions = []
        self._new_ops = []

    # --- op memory -------------------------------------------------------
    def get_op(self, op_id: str) -> RememberedOp | None:
        if op_id not in self._ops:
            row = self.session.execute(_REMEMBERED_IN, {"keys": [op_id]}).first()
            self._ops[op_id] = _remembered(row) if row is not None else None
        return self._ops[op_id]

    def remember_op(self, op: RememberedOp) -> None:
        if self._ops.get(op.op_id) is not None:
            raise KeyError(f"op {op.op_id} already remembered")
        self._ops[op.op_id] = op
        self._new_ops.append(
            {
                "op_id": op.op_id,
                "batch_id": self.batch_id,
                "device_id": op.device_id,
                "record_id": op.result.id,
                "outcome": {_FINGERPRINT: op.fingerprint, _RESULT: op.result.to_wire()},
                "created_at": self.now,
            }
        )

    # --- records ---------------------------------------------------------
    def _state(self, record_id: str) -> RecordState | None:
        if record_id not in self._records:
            stmt = select(_RECORDS).where(_RECORDS.c.id == record_id)
            if self._locking:
                stmt = stmt.with_for_update()
            row = self.session.execute(stmt).first()
            self._records[record_id] = record_state(row) if row is not None else None
        return self._records[record_id]

    def get_record(self, record_id: str) -> RecordState | None:
        state = self._state(record_id)
        return _copy(state) if state is not None else None

    def insert_record(self, record: RecordState) -> None:
        if self._state(record.id) is not None:
            raise KeyError(f"record {record.id} exists")
        # A copy of the state object only: its data is the engine's own new dict, never changed.
        state = _shallow(record)
        self._records[record.id] = state
        self._new_records[record.id] = state

    def update_record(self, record: RecordState) -> None:
        if self._state(record.id) is None:
            raise KeyError(f"record {record.id} does not exist")
        state = _shallow(record)
        self._records[record.id] = state
        if record.id in self._new_records:  # created earlier in this batch: still one INSERT
            self._new_records[record.id] = state
        else:
            self._changed_records[record.id] = state

    # --- history ---------------------------------------------------------
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
        self._revisions.append(
            {
                "record_id": record_id,
                "version": version,
                "kind": kind,
                "changed": json_copy(changes),
                "reason": reason,
                "device_id": device_id,
                "op_id": op_id,
                "created_at": naive_utc(at),
            }
        )

    def fields_changed_since(self, record_id: str, version: int) -> set[str]:
        stored = self.session.scalars(
            select(RecordRevision.changed).where(
                RecordRevision.record_id == record_id, RecordRevision.version > version
            )
        )
        names = {name for changed in stored for name in changed}
        staged = (r["changed"] for r in self._revisions if r["record_id"] == record_id and r["version"] > version)
        return names | {name for changed in staged for name in changed}

    # --- conflicts and quarantine ---------------------------------------
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
        row = self._state(record_id)
        assert row is not None  # the engine only conflicts on a record it just read
        self._conflicts.append(
            {
                "record_id": record_id,
                "entity": row.entity.value,
                "team_id": row.team_id,
                "device_id": device_id,
                "op_id": op_id,
                "base_version": base_version,
                "current_version": current_version,
                "mutation": json_copy(mutation),
                "current": json_copy(current),
                "status": "open",
                "created_at": naive_utc(at),
            }
        )

    def quarantine(self, *, device_id: str, raw: Any, errors: Errors, reason: str, at: datetime) -> None:
        op_id = raw.get("op_id") if isinstance(raw, dict) else None
        self._quarantined.append(
            {
                "device_id": device_id,
                "team_id": self.device.team_id,
                "batch_id": self.batch_id,
                # Whatever the device sent, for a coordinator to match with the tablet's log.
                "op_id": without_nul(str(op_id))[:_QUARANTINE_OP_ID_MAX] if op_id is not None else None,
                "reason": reason,
                # NULs made visible (and copied): PostgreSQL refuses NUL in text, and the raw item is kept.
                "mutation": without_nul(raw),
                "errors": without_nul(errors),
                "status": "open",
                "created_at": naive_utc(at),
            }
        )

    # --- change feed -----------------------------------------------------
    def next_seq(self) -> int:
        if self._late_seqs:
            # Provisional: negative, unique within the batch, in the order handed out. The real
            # block is taken at `_flush()`, so the counter row (locked from then until commit, which
            # keeps commit order = seq order) is held for the writes and the commit only, not while
            # the whole batch is parsed and validated: other batches validate meanwhile.
            self._provisional += 1
            return -self._provisional
        seq = next(self._seqs, None)
        if seq is None:
            self._seqs = iter(reserve_seqs(self.session, self._seq_block, first=self._first_seq))
            seq = next(self._seqs)
        return seq

    def _settle_seqs(self) -> None:
        """Swap the provisional seqs for a block taken now, in the same order, before anything
        is written (the caller applies the items without autoflush, so no row holds one yet)."""
        if len(self._settled) == self._provisional:
            return
        fresh = range(len(self._settled) + 1, self._provisional + 1)
        # No autoflush: the counter UPDATE would otherwise first write the rows with their
        # provisional (negative) seqs, before this transaction holds the counter, and two batches
        # writing the same provisional seq into the unique index wait on each other (deadlock).
        with self.session.no_autoflush:
            block = reserve_seqs(self.session, len(fresh), first=self._first_seq)
        self._settled.update(zip((-n for n in fresh), block, strict=True))
        for state in self._records.values():
            if state is not None and state.seq < 0:
                state.seq = self._settled[state.seq]
        for op in self._new_ops:
            result = op["outcome"][_RESULT]
            if result.get("seq") is not None and result["seq"] < 0:
                result["seq"] = self._settled[result["seq"]]

    def _with_settled_seq(self, state: RecordState) -> RecordState:
        # An intermediate version (a record changed twice in one batch) is the engine's own
        # snapshot, which the settling above did not reach.
        return _shallow(state, seq=self._settled[state.seq]) if state.seq < 0 else state

    def _settle_result(self, result: ItemResult) -> ItemResult:
        """`result` with its provisional seq replaced by the real one (after `_flush()`)."""
        if result.seq is not None and result.seq < 0:
            return replace(result, seq=self._settled[result.seq])
        return result

    # --- reference data --------------------------------------------------
    # One snapshot per batch: a batch is one transaction, so it sees one state of reference data,
    # the process's cached one when its stamp is current (server/persistence/reference_cache.py).
    @property
    def reference(self) -> ReferenceSnapshot:
        if self._reference is None:
            self._reference = reference_snapshot(self.session, read_stamp(self.session))
        return self._reference

    def site_belongs_to_team(self, site_id: str, team_id: str) -> bool:
        return self.reference.site_belongs_to_team(site_id, team_id)

    def site_is_active(self, site_id: str) -> bool:
        return self.reference.site_is_active(site_id)

    def item_category(self, code: str) -> str | None:
        return self.reference.item_categories.get(code)

    def service_exists(self, code: str) -> bool:
        return code in self.reference.services

    # --- hooks -----------------------------------------------------------
    def record_changed(self, before: RecordState | None, after: RecordState) -> None:
        # Staged, and applied to the rollups once per batch by `_flush()`: one call per record
        # flushed that record alone and upserted its cells alone, ~60% of a batch's time. The
        # states are the engine's own snapshots (it builds a new state per version), so a record
        # changed twice in a batch nets out: -v1 +v2 after +v1.
        self._changes.append((before, after))


T = TypeVar("T")


def _remembered(row: Any) -> RememberedOp:
    outcome = row.outcome
    return RememberedOp(
        op_id=row.op_id,
        device_id=row.device_id or "",
        fingerprint=outcome[_FINGERPRINT],
        result=ItemResult.from_wire(outcome[_RESULT]),
    )


def chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """`values` in slices of at most `size`: bounded IN lists and multi-row INSERTs (SQLite caps
    the bound parameters of a statement)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- the unit of work -------------------------------------------------------------------------


@contextmanager
def unit_of_work(
    session: Session,
    device: DeviceContext,
    *,
    batch_id: str | None,
    now: datetime,
    late_seqs: bool = False,
    reference: ReferenceSnapshot | None = None,
    items: Iterable[tuple[str | None, str | None]] = (),
    seq_block: int = 1,
    staged: StagedWrites | None = None,
) -> Iterator[SqlRecordStore]:
    """The store of one batch, in the caller's transaction: what the batch names (`items`, each
    (op id, record id)) read and locked first, and the staged rows written when the block ends
    without an error. The only way to open a `SqlRecordStore`, so its lifecycle cannot be run out of
    order or half: `apply_batch` and `quarantine_batch` below, and the store's contract tests.

    `seq_block` sizes the block of seqs taken at the first `next_seq` (each item makes at most one
    new version). `staged`: where the tail of the writes (rollups, revisions, op memory) is staged,
    for the caller to flush with its own rows; without it the block writes them itself. An
    exception leaves the staged rows unwritten; the caller rolls back.
    """
    store = SqlRecordStore(session, device, batch_id=batch_id, now=now, late_seqs=late_seqs, reference=reference,
                           staged=staged)
    store._preload_items(items, mutation_count=seq_block)
    yield store
    store._flush()
    if staged is None:
        store.staged.flush()


def apply_batch(
    session: Session,
    device: DeviceContext,
    mutations: list[Any],
    *,
    batch_id: str | None,
    now: datetime,
    client_time: datetime | None,
    reference: ReferenceSnapshot | None = None,
    item_json: Sequence[bytes] | None = None,
    staged: StagedWrites | None = None,
) -> list[ItemResult]:
    """Apply a batch of wire mutations through the engine in the caller's transaction: the whole
    lifecycle of the store in one call, so no caller can forget a step or take them out of order.

    1. preload what the items name (one read per table; on PostgreSQL the records are locked);
    2. apply every item, without autoflush: records hold provisional seqs until step 3 takes the
       real ones (and with them the counter's lock), and the engine reads the batch's own rows from
       the store's cache;
    3. flush: the counter block, then records, change events (rollups), conflicts and quarantine,
       and (staged) the rollups' upserts, revisions and ops;
    4. settle: the results carry the real seqs.

    `reference` is the reference data to check against, when the caller has read its stamp already
    (else the store reads it at the first check). `item_json` is each mutation's canonical JSON,
    when the caller made it for the batch's fingerprint (`sync.push.mutation_fingerprint`). The
    caller commits (or rolls back) and writes its own batch bookkeeping. `staged`: the caller's
    (the envelope's, which adds the ledger row and flushes it), else written before returning.
    """
    with unit_of_work(session, device, batch_id=batch_id, now=now, late_seqs=True, reference=reference,
                      items=named_items(mutations), seq_block=len(mutations), staged=staged) as store, \
            session.no_autoflush:
        results = apply_mutations(store, device, mutations, validate=record_validator(aware_utc(now).date()),
                                  now=now, client_time=client_time, item_json=item_json)
    return [store._settle_result(result) for result in results]


def quarantine_batch(session: Session, device: DeviceContext, mutations: list[Any], *, batch_id: str | None,
                     now: datetime) -> int:
    """A revoked device's batch: its well-formed mutations kept in quarantine, unapplied, in the
    caller's transaction (the other unit of work). Returns how many were kept."""
    with unit_of_work(session, device, batch_id=batch_id, now=now) as store:
        return quarantine_all(store, device, mutations, now=now)


def named_items(mutations: list[Any]) -> list[tuple[str | None, str | None]]:
    """Each item's (op id, record id), normalised as the engine normalises them (None where an
    item does not name a valid one)."""
    return [(canonical_uuid(item.get("op_id")), canonical_uuid(item.get("id"))) if isinstance(item, dict)
            else (None, None) for item in mutations]
