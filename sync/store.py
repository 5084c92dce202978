"""The storage contract of the sync engine.

:class:`RecordStore` is the only way the engine touches storage. Two
implementations exist: :class:`sync.memory.MemoryStore` (tests, and the
executable spec) and the SQL store in the server. The engine never commits:
the caller runs a whole push batch inside one transaction and commits or
rolls back once, so every method here only reads or stages writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sync.domain import Errors, RecordState, RememberedOp


class RecordStore(Protocol):
    # --- op memory -------------------------------------------------------
    def get_op(self, op_id: str) -> RememberedOp | None:
        """The remembered outcome of ``op_id``, or None if never remembered.

        Op ids are global (not per device): a tablet re-enrolled under a new
        device id still re-sends its old op ids and must get ``duplicate``.
        """
        ...

    def remember_op(self, op: RememberedOp) -> None:
        """Remember an op outcome permanently (never pruned).

        Called at most once per op_id; the SQL store should make ``op_id`` a
        primary key so a concurrent double insert fails the transaction
        instead of storing two outcomes. ``op.result`` round-trips through
        ``ItemResult.to_wire``/``from_wire`` if stored as JSON.
        """
        ...

    # --- records ---------------------------------------------------------
    def get_record(self, record_id: str) -> RecordState | None:
        """The current state of a record, whatever its team, or None.

        The returned object must be a copy: the engine builds new states
        from it and the store must not change behind its back. The SQL store
        should lock the row (``SELECT ... FOR UPDATE``) on databases that can.
        """
        ...

    def insert_record(self, record: RecordState) -> None:
        """Store a new record (version 1). The id is known not to exist.

        The store may keep ``record`` itself rather than a copy: the engine hands over a new
        state for every version and never changes one afterwards (as for ``update_record``).
        """
        ...

    def update_record(self, record: RecordState) -> None:
        """Replace the stored state of an existing record by its id."""
        ...

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
        """Append the revision that produced ``version`` of a record.

        ``changes`` maps each changed field name to its new value (None when
        a field was removed): the full content for a create, only the
        fields whose value changed for a correction, ``{"status": "voided"}``
        for a void. ``kind`` is a ``MutationKind`` value. (record_id, version)
        is unique.
        """
        ...

    def fields_changed_since(self, record_id: str, version: int) -> set[str]:
        """Names of fields changed by the record's revisions with version > ``version``.

        The union of the keys of those revisions' ``changes``; empty if none.
        """
        ...

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
        """Store an open conflict for coordinators (GET /api/v1/conflicts).

        ``mutation`` is the correction as the device sent it (normalised ids);
        ``current`` the server's values of the disputed fields at that time.
        """
        ...

    def quarantine(self, *, device_id: str, raw: Any, errors: Errors, reason: str, at: datetime) -> None:
        """Keep a mutation that was not applied, exactly as received, except that each NUL
        character is kept as the visible text ``\\u0000`` (``sync.text.without_nul``):
        PostgreSQL cannot store NUL in text, and both stores keep the same thing.

        ``raw`` is whatever JSON value the device sent for the item (it may
        not even be an object); ``errors`` maps field paths to messages (may
        be empty); ``reason`` is a code: ``rejected`` or ``device_revoked``.
        """
        ...

    # --- change feed -----------------------------------------------------
    def next_seq(self) -> int:
        """Allocate the change-feed position of a new record version of this
        batch. Within the batch every seq handed out is distinct; once the
        batch is written, the seqs it stored (in records, and in the results
        its caller gets) are strictly greater than any committed before,
        across all streams and all transactions, in the order they were
        handed out.

        A store may hand out provisional seqs and settle them when it writes
        the batch: the SQL store of the push takes its block from the single
        counter row only then (`late_seqs`), so the row lock that serialises
        concurrent pushes is held for the writes and the commit, not while the
        batch is validated. That lock is what makes "paging returns every
        change exactly once" hold: a seq is never committed after a higher
        one is visible. The engine only copies seqs into states and results;
        it never compares them.
        """
        ...

    # --- reference data --------------------------------------------------
    def site_belongs_to_team(self, site_id: str, team_id: str) -> bool:
        """True if the site is one of the team's sites (``team.site_ids``)."""
        ...

    def site_is_active(self, site_id: str) -> bool:
        """True if the site exists and is active."""
        ...

    def item_category(self, code: str) -> str | None:
        """The category of the item ``code``, or None if the item is unknown."""
        ...

    def service_exists(self, code: str) -> bool:
        """True if ``code`` is a known service."""
        ...

    # --- hooks -----------------------------------------------------------
    def record_changed(self, before: RecordState | None, after: RecordState) -> None:
        """Called once per new version, after insert/update, same transaction.

        ``before`` is None for a create. The SQL store maintains aggregate
        rollups here (subtract ``before`` if it was active, add ``after`` if
        it is active), so the rollups commit or roll back with the records.
        """
        ...
