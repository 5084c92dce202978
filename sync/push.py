"""Push rules: turn a batch of raw mutations into per-item outcomes.

The rules are api.md's "Sync" section. Each item is judged on its own and
never aborts the others; the caller wraps the whole batch in one transaction.
Decisions the contract leaves open are documented where they are taken and
summarised in :func:`apply_mutations`.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sync.domain import (
    COMMON_FIELDS,
    IMMUTABLE_FIELDS,
    DeviceContext,
    Entity,
    Errors,
    ItemResult,
    ItemStatus,
    Mutation,
    MutationKind,
    RecordState,
    RecordStatus,
    RememberedOp,
)
from sync.fingerprint import fingerprint, fingerprint_of_json
from sync.store import RecordStore
from sync.text import NUL_MESSAGE, nul_path
from sync.utc import aware_utc

# validate(entity, data) -> (clean_data, errors). Errors are keyed by field
# path inside ``data`` (no "data." prefix); clean data is JSON-ready and flat
# (common fields included), as schemas.records.validate_record returns it.
Validator = Callable[[str, dict[str, Any]], tuple[dict[str, Any], Errors]]

CLOCK_TOLERANCE = timedelta(hours=24)
REASON_MAX_LENGTH = 500

MISSING = "Missing data for required field."
_JSON_NUL = b"\\u0000"  # how canonical_json writes a NUL character
UNKNOWN_FIELD = "Unknown field."
NOT_UUID = "Not a valid UUID."
NOT_OBJECT = "Must be an object."
# Same message whether the record does not exist or belongs to another team,
# so a device cannot probe for other teams' record ids.
UNKNOWN_RECORD = "Unknown record."

MUTATION_KEYS = frozenset({"op_id", "kind", "entity", "id", "data", "base_version", "reason"})


def _one_of(enum: type[Any]) -> str:
    return "Must be one of: " + ", ".join(member.value for member in enum) + "."


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(value: Any) -> str | None:
    """Canonical lower-case form of a UUID string, or None if it is not one."""
    if not isinstance(value, str):
        return None
    if _CANONICAL_UUID.fullmatch(value):
        return value  # already canonical, as tablets send nearly all of them: no UUID object to build
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


E = TypeVar("E", bound=StrEnum)


@functools.cache
def _values(enum: type[StrEnum]) -> frozenset[str]:
    return frozenset(member.value for member in enum)


def _member(raw: dict[str, Any], name: str, enum: type[E], errors: Errors) -> E | None:
    """The enum member a field names, or None with its error. Any JSON value may arrive here (a
    list or an object is unhashable: a membership test on it raised TypeError, a 500), so the type
    is checked before the value."""
    if name not in raw:
        errors[name] = [MISSING]
        return None
    value = raw[name]
    if not isinstance(value, str) or value not in _values(enum):
        errors[name] = [_one_of(enum)]
        return None
    return enum(value)


def _is_version(value: Any) -> bool:
    # bool is an int subclass: ``true`` must not pass as version 1.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def parse_mutation(raw: Any, raw_json: bytes | None = None) -> tuple[Mutation | None, Errors]:
    """Structural check of one raw item; returns the Mutation or field errors.

    Ids are normalised to lower-case canonical UUIDs (some tablet platforms
    make upper-case ones), so the same op or record is never seen as two.

    `raw_json`, when given, is `canonical_json(raw)`: JSON writes a NUL only as the escape
    `\u0000`, so where those six bytes are absent no key or string holds one and the walk of
    every value is skipped (it was a tenth of a replayed batch's time). Where they are present
    (a NUL, or a backslash typed before `u0000`) the walk decides.
    """
    if not isinstance(raw, dict):
        return None, {"mutation": [NOT_OBJECT]}
    if (raw_json is None or _JSON_NUL in raw_json) and (where := nul_path(raw)) is not None:
        # Rejected here, item by item, so one bad string never blocks the rest of the batch.
        return None, {where: [NUL_MESSAGE]}
    errors: Errors = {}
    for key in sorted(set(raw) - MUTATION_KEYS):
        errors[str(key)] = [UNKNOWN_FIELD]

    def uuid_field(name: str) -> str | None:
        if name not in raw:
            errors[name] = [MISSING]
            return None
        value = canonical_uuid(raw[name])
        if value is None:
            errors[name] = [NOT_UUID]
        return value

    op_id = uuid_field("op_id")
    record_id = uuid_field("id")

    kind = _member(raw, "kind", MutationKind, errors)
    entity = _member(raw, "entity", Entity, errors)

    data = raw.get("data")
    if kind is MutationKind.VOID:
        # A void carries no data; silently dropping fields would lose what
        # the worker meant, so it is refused rather than ignored.
        if data not in (None, {}):
            errors["data"] = ["Must be empty for void."]
        data = {}
    elif kind is not None:
        if "data" not in raw:
            errors["data"] = [MISSING]
        elif not isinstance(data, dict):
            errors["data"] = [NOT_OBJECT]
        elif kind is MutationKind.CORRECT and not data:
            errors["data"] = ["Must name at least one field to correct."]

    # Required for correct; optional for void (a void wins even when stale,
    # but a version the server never made is still refused); none for create.
    base_version = raw.get("base_version")
    if kind is MutationKind.CREATE and base_version is not None:
        errors["base_version"] = ["Not allowed for create."]
    elif kind is MutationKind.CORRECT and "base_version" not in raw:
        errors["base_version"] = [MISSING]
    elif kind is not MutationKind.CREATE and base_version is not None:
        if not _is_version(base_version):
            errors["base_version"] = ["Must be an integer greater than or equal to 1."]
    elif kind is MutationKind.CORRECT:
        errors["base_version"] = ["Field may not be null."]

    reason = raw.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_MAX_LENGTH):
        errors["reason"] = [f"Must be a string of at most {REASON_MAX_LENGTH} characters."]

    if errors:
        return None, errors
    assert op_id and record_id and kind and entity and isinstance(data, dict)
    return Mutation(op_id, kind, entity, record_id, data, base_version, reason), {}


def mutation_to_wire(mutation: Mutation) -> dict[str, Any]:
    """The normalised mutation as JSON (for fingerprints and stored conflicts)."""
    wire: dict[str, Any] = {
        "op_id": mutation.op_id,
        "kind": mutation.kind.value,
        "entity": mutation.entity.value,
        "id": mutation.id,
        "data": mutation.data,
    }
    if mutation.base_version is not None:
        wire["base_version"] = mutation.base_version
    if mutation.reason is not None:
        wire["reason"] = mutation.reason
    return wire


def mutation_fingerprint(mutation: Mutation, raw: dict[str, Any], raw_json: bytes | None = None) -> str:
    """The content hash op memory keeps: `fingerprint(mutation_to_wire(mutation))`.

    `raw_json` is `canonical_json(raw)` when the caller has it (the server encodes each item for
    the batch's own fingerprint). When the normalised mutation is made of the very values `raw`
    holds (same keys, ids already canonical, the same data object), its canonical JSON is those
    bytes, so they are hashed instead of encoding the mutation again: ~10 us an item.
    """
    wire = mutation_to_wire(mutation)
    if (raw_json is not None and wire.keys() == raw.keys() and wire["op_id"] == raw["op_id"]
            and wire["id"] == raw["id"] and wire["data"] is raw["data"]):
        return fingerprint_of_json(raw_json)
    return fingerprint(wire)


def _prefixed(errors: Errors) -> Errors:
    return {f"data.{key}": list(messages) for key, messages in errors.items()}


def _split(clean: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Flat clean data -> (common fields, entity data)."""
    common = {key: clean[key] for key in COMMON_FIELDS}
    data = {key: value for key, value in clean.items() if key not in COMMON_FIELDS}
    return common, data


class _Push:
    """One batch being applied: shared context for the per-item rules."""

    def __init__(
        self,
        store: RecordStore,
        device: DeviceContext,
        validate: Validator,
        now: datetime,
        client_time: datetime | None,
    ) -> None:
        self.store = store
        self.device = device
        self.validate = validate
        self.now = aware_utc(now)
        self.batch_suspect = client_time is not None and abs(aware_utc(client_time) - self.now) > CLOCK_TOLERANCE

    # --- entry -----------------------------------------------------------
    def apply(self, raw: Any, raw_json: bytes | None = None) -> ItemResult:
        mutation, errors = parse_mutation(raw, raw_json)
        if mutation is None:
            echo = raw.get("op_id") if isinstance(raw, dict) else None
            return self._reject(raw, echo if isinstance(echo, str) else None, errors)

        content_hash = mutation_fingerprint(mutation, raw, raw_json)
        remembered = self.store.get_op(mutation.op_id)
        if remembered is not None:
            return self._resent(raw, mutation, remembered, content_hash)

        if mutation.kind is MutationKind.CREATE:
            result = self._create(mutation)
        elif mutation.kind is MutationKind.CORRECT:
            result = self._correct(mutation)
        else:
            result = self._void(mutation)

        if result.status is ItemStatus.REJECTED:
            # Not remembered: a rejected op re-sent is judged again, since it
            # may pass once reference data (a site, an item) has changed.
            self._quarantine(raw, result.errors)
        else:
            self.store.remember_op(RememberedOp(mutation.op_id, self.device.device_id, content_hash, result))
        return result

    def _resent(self, raw: Any, mutation: Mutation, remembered: RememberedOp, content_hash: str) -> ItemResult:
        if remembered.fingerprint != content_hash:
            # A different mutation under a used op_id is a client bug; answering
            # "duplicate" would silently drop it, so it goes to quarantine.
            return self._reject(
                raw,
                mutation.op_id,
                {"op_id": ["op_id_reused: this op_id was used for a different mutation."]},
            )
        original = remembered.result
        if original.status is ItemStatus.CONFLICT:
            # A conflict changed nothing; repeating it verbatim (same current
            # values, no second conflict stored) is the "original outcome".
            return replace(original, op_id=mutation.op_id)
        return ItemResult(
            op_id=mutation.op_id,
            status=ItemStatus.DUPLICATE,
            id=original.id,
            version=original.version,
            seq=original.seq,
        )

    # --- outcomes --------------------------------------------------------
    def _reject(self, raw: Any, op_id: str | None, errors: Errors) -> ItemResult:
        self._quarantine(raw, errors)
        return ItemResult(op_id=op_id, status=ItemStatus.REJECTED, errors=errors)

    def _quarantine(self, raw: Any, errors: Errors) -> None:
        self.store.quarantine(
            device_id=self.device.device_id,
            raw=raw,
            errors=errors,
            reason="rejected",
            at=self.now,
        )

    @staticmethod
    def _rejected(mutation: Mutation, errors: Errors) -> ItemResult:
        return ItemResult(op_id=mutation.op_id, status=ItemStatus.REJECTED, errors=errors)

    @staticmethod
    def _applied(mutation: Mutation, record: RecordState, status: ItemStatus) -> ItemResult:
        return ItemResult(
            op_id=mutation.op_id,
            status=status,
            id=record.id,
            version=record.version,
            seq=record.seq,
        )

    # --- shared checks ---------------------------------------------------
    def _reference_errors(self, clean: dict[str, Any], fields: set[str]) -> Errors:
        """Checks against reference data, for the given fields of clean data."""
        errors: Errors = {}
        if "team_id" in fields and clean.get("team_id") != self.device.team_id:
            errors["data.team_id"] = ["Must be the team of this device."]
        if "site_id" in fields and "site_id" in clean:
            site_id = clean["site_id"]
            if not self.store.site_belongs_to_team(site_id, self.device.team_id):
                errors["data.site_id"] = ["Unknown site for this team."]
            elif not self.store.site_is_active(site_id):
                errors["data.site_id"] = ["Site is not active."]
        item_code = clean.get("item_code") if "item_code" in fields else None
        if item_code is not None and self.store.item_category(item_code) is None:
            errors["data.item_code"] = ["Unknown item."]
        service = clean.get("service") if "service" in fields else None
        if service is not None and not self.store.service_exists(service):
            errors["data.service"] = ["Unknown service."]
        return errors

    def _own_record(self, mutation: Mutation) -> tuple[RecordState | None, Errors]:
        """The record a correct/void targets, or the errors that reject it."""
        record = self.store.get_record(mutation.id)
        if record is None or record.team_id != self.device.team_id:
            return None, {"id": [UNKNOWN_RECORD]}
        if record.entity is not mutation.entity:
            return None, {"entity": [f"Does not match the record's entity ({record.entity})."]}
        if mutation.base_version is not None and mutation.base_version > record.version:
            return None, {"base_version": [f"Ahead of the server's version ({record.version})."]}
        return record, {}

    def _suspect(self, recorded_at: str) -> bool:
        if self.batch_suspect:
            return True
        try:
            at = aware_utc(datetime.fromisoformat(recorded_at))
        except ValueError:  # the validator guarantees ISO; be safe anyway
            return True
        return at > self.now + CLOCK_TOLERANCE

    def _write(
        self,
        mutation: Mutation,
        before: RecordState | None,
        after: RecordState,
        changes: dict,
    ) -> ItemResult:
        if before is None:
            self.store.insert_record(after)
        else:
            self.store.update_record(after)
        self.store.add_revision(
            record_id=after.id,
            version=after.version,
            kind=mutation.kind.value,
            changes=changes,
            reason=mutation.reason,
            device_id=self.device.device_id,
            op_id=mutation.op_id,
            at=self.now,
        )
        self.store.record_changed(before, after)
        return self._applied(mutation, after, ItemStatus.APPLIED)

    # --- kinds -----------------------------------------------------------
    def _create(self, mutation: Mutation) -> ItemResult:
        clean, errors = self.validate(mutation.entity.value, mutation.data)
        if errors:
            return self._rejected(mutation, _prefixed(errors))

        existing = self.store.get_record(mutation.id)
        if existing is not None:
            # Checked before reference data: a re-created record must stay a
            # duplicate even if, say, its site was deactivated since.
            if existing.entity is mutation.entity and existing.content() == clean:
                return self._applied(mutation, existing, ItemStatus.DUPLICATE)
            return self._rejected(mutation, {"id": ["id_collision: another record already has this id."]})

        errors = self._reference_errors(clean, set(clean))
        if errors:
            return self._rejected(mutation, errors)

        common, data = _split(clean)
        record = RecordState(
            id=mutation.id,
            entity=mutation.entity,
            team_id=common["team_id"],
            site_id=common["site_id"],
            occurred_on=date.fromisoformat(common["occurred_on"]),
            recorded_at=common["recorded_at"],
            version=1,
            status=RecordStatus.ACTIVE,
            seq=self.store.next_seq(),
            clock_suspect=self._suspect(common["recorded_at"]),
            data=data,
            device_id=self.device.device_id,
            received_at=self.now,
        )
        return self._write(mutation, None, record, clean)

    def _correct(self, mutation: Mutation) -> ItemResult:
        record, errors = self._own_record(mutation)
        if record is None:
            return self._rejected(mutation, errors)
        assert mutation.base_version is not None  # parse_mutation requires it

        current = record.content()
        for name in sorted(IMMUTABLE_FIELDS & set(mutation.data)):
            if mutation.data[name] != current.get(name):
                errors[f"data.{name}"] = ["Cannot be changed."]
        if errors:
            return self._rejected(mutation, errors)

        merged = {**current, **mutation.data}
        # age_band and age_years describe one fact: correcting one replaces
        # the other (the band is re-derived from years), else they disagree.
        if "age_years" in mutation.data and "age_band" not in mutation.data:
            merged.pop("age_band", None)
        if "age_band" in mutation.data and "age_years" not in mutation.data:
            merged.pop("age_years", None)

        clean, errors = self.validate(mutation.entity.value, merged)
        if errors:
            return self._rejected(mutation, _prefixed(errors))
        # Fields whose value actually changes; None marks a removed field.
        changes = {
            name: clean.get(name) for name in sorted(set(current) | set(clean)) if current.get(name) != clean.get(name)
        }
        errors = self._reference_errors(clean, set(changes))
        if errors:
            return self._rejected(mutation, errors)

        if record.status is RecordStatus.VOIDED:
            # Void wins over any correction, stale or not.
            disputed = {name: current.get(name) for name in sorted(mutation.data)}
            return self._conflict(mutation, record, {**disputed, "status": record.status.value})

        if mutation.base_version < record.version:
            # Only a real disagreement conflicts: a field someone else changed
            # since base_version and that this correction would change again.
            # Setting it to the value it already has is no disagreement.
            overlap = set(changes) & self.store.fields_changed_since(record.id, mutation.base_version)
            if overlap:
                return self._conflict(
                    mutation,
                    record,
                    {name: current.get(name) for name in sorted(overlap)},
                )

        if not changes:
            # Nothing to change: applied at the current version, no new
            # version or seq, so pull streams are not churned by no-ops.
            return self._applied(mutation, record, ItemStatus.APPLIED)

        common, data = _split(clean)
        after = replace(
            record,
            site_id=common["site_id"],
            occurred_on=date.fromisoformat(common["occurred_on"]),
            recorded_at=common["recorded_at"],
            data=data,
            version=record.version + 1,
            seq=self.store.next_seq(),
            # Sticky: a record once written with a suspect clock stays suspect.
            clock_suspect=record.clock_suspect or self._suspect(common["recorded_at"]),
        )
        return self._write(mutation, record, after, changes)

    def _conflict(self, mutation: Mutation, record: RecordState, current: dict[str, Any]) -> ItemResult:
        assert mutation.base_version is not None
        self.store.add_conflict(
            record_id=record.id,
            device_id=self.device.device_id,
            op_id=mutation.op_id,
            base_version=mutation.base_version,
            current_version=record.version,
            mutation=mutation_to_wire(mutation),
            current=current,
            at=self.now,
        )
        return ItemResult(
            op_id=mutation.op_id,
            status=ItemStatus.CONFLICT,
            id=record.id,
            current_version=record.version,
            current=current,
        )

    def _void(self, mutation: Mutation) -> ItemResult:
        record, errors = self._own_record(mutation)
        if record is None:
            return self._rejected(mutation, errors)
        if record.status is RecordStatus.VOIDED:
            # Already voided (e.g. by another device): the worker's intent
            # holds, so applied at the current version, no new version.
            return self._applied(mutation, record, ItemStatus.APPLIED)
        after = replace(
            record,
            status=RecordStatus.VOIDED,
            version=record.version + 1,
            seq=self.store.next_seq(),
            clock_suspect=record.clock_suspect or self.batch_suspect,
        )
        return self._write(mutation, record, after, {"status": RecordStatus.VOIDED.value})


def apply_mutations(
    store: RecordStore,
    device: DeviceContext,
    mutations: list[Any],
    *,
    validate: Validator,
    now: datetime,
    client_time: datetime | None,
    item_json: Sequence[bytes] | None = None,
) -> list[ItemResult]:
    """Apply a push batch item by item; results are in the order of ``mutations``.

    ``item_json``, when given, is ``canonical_json`` of each item of ``mutations`` in order (see
    :func:`mutation_fingerprint`).

    The caller owns the transaction (one per batch) and has checked that the
    device is active. Items see the effects of earlier items of the batch.

    Decisions beyond api.md:
    - Applied and conflict outcomes are remembered by op_id; rejected ones are
      not, so a re-sent rejected op is judged again.
    - A re-sent op answers ``duplicate`` with the original id/version/seq; a
      re-sent conflicted op repeats the original conflict; an op_id re-used
      for a different mutation (by content fingerprint) is rejected
      (``op_id_reused``) and quarantined.
    - A create whose id exists is compared with the record's current content.
    - A correction setting only values the record already has is ``applied``
      at the current version with no new version; a stale correction only
      conflicts on fields it would actually change.
    - Correcting ``age_years`` re-derives ``age_band``; correcting only
      ``age_band`` drops a stored ``age_years``.
    - A correction of a voided record is a ``conflict`` whose ``current``
      holds the sent fields' values plus ``"status": "voided"``.
    - Voiding a voided record is ``applied`` at the current version.
    - A new version written in a batch with a suspect clock is marked
      ``clock_suspect``; the flag is sticky.
    """
    push = _Push(store, device, validate, now, client_time)
    if item_json is None:
        return [push.apply(raw) for raw in mutations]
    return [push.apply(raw, raw_json) for raw, raw_json in zip(mutations, item_json, strict=True)]


def quarantine_all(
    store: RecordStore,
    device: DeviceContext,
    mutations: list[Any],
    *,
    now: datetime,
    reason: str = "device_revoked",
) -> int:
    """Keep a refused batch's well-formed mutations in quarantine, unapplied.

    For revoked devices: a tablet revoked by mistake loses nothing, a stolen
    one changes no count. Malformed items are dropped, as api.md says only
    well-formed ones are kept. Returns how many were quarantined.
    """
    kept = 0
    for raw in mutations:
        mutation, _ = parse_mutation(raw)
        if mutation is not None:
            store.quarantine(device_id=device.device_id, raw=raw, errors={}, reason=reason, at=now)
            kept += 1
    return kept
