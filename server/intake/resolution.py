"""Coordinators resolve data-quality items: open conflicts and quarantined mutations.

- A conflict resolved with the **server** value is only closed: the record already holds it.
- A conflict resolved with the **device** value becomes a new correction of the record, written
  through the write envelope (server/intake/envelope.py: retries, `apply_batch`) exactly like a
  push, so validation, ownership, revisions, seq, the pull stream and the rollups all see it; its
  revision names the coordinator (`record_revisions.user_id`) and the device whose values they are
  (`device_id`). The device may be revoked since: the coordinator writes, not the tablet.
- A quarantined mutation is **discarded** with a reason, or a fixed version of it is **applied**
  through the engine with the quarantined row's device and team, as if that tablet had sent it.
  Either way the values of fields the server does not know are then redacted (server/intake/quarantine.py).

Every operation first closes the item with `UPDATE ... WHERE status = 'open'`: of two coordinators
resolving one item at once, the second updates no row and gets 409 (PostgreSQL re-checks the WHERE
once the first commits; SQLite lets one writer in at a time). The open item is the resolution's
ledger: a resend finds it closed. Anything that fails after the claim raises, and the request's
rollback undoes the claim with everything else.

Out-of-scope items answer 404 like unknown ones, as the record history does, so ids of other
countries' items cannot be probed. Operations only flush; the request commits.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.intake import RESOLUTION
from server.intake.envelope import Translation, write
from server.intake.quarantine import redact_row
from server.intake.review import conflict_dict, quarantine_dict
from server.models import Conflict, QuarantinedMutation, Record, RecordRevision, Team, User
from server.persistence.staged import StagedWrites
from server.persistence.timeutil import aware_utc, isoformat_z, naive_utc
from server.web.auth import Principal
from server.web.errors import ApiError, validation_error
from sync.domain import DeviceContext, ItemResult, ItemStatus

OPEN = "open"
RESOLVED = "resolved"
USE_SERVER = "server"
USE_DEVICE = "device"
DISCARDED = "discarded"
APPLIED = "applied"


@dataclass(frozen=True)
class _Scoped:
    country: str
    team_id: str


# --- conflicts ---------------------------------------------------------------------------------


def resolve_conflict(
    session: Session, principal: Principal, conflict_id: int, *, use: str, now: datetime
) -> dict[str, Any]:
    """Close a conflict keeping the server value, or apply the device's value as a correction."""
    conflict = session.get(Conflict, conflict_id)
    scope = _scope(session, principal, conflict.team_id) if conflict is not None else None
    if conflict is None or scope is None:
        raise ApiError(404, "not_found", f"No conflict {conflict_id} in your countries.")
    claim = functools.partial(_claim, session, Conflict, conflict.id, "conflict", resolution=use,
                              principal=principal, now=now)
    result: ItemResult | None = None
    if use == USE_DEVICE:
        result = _apply_device_value(session, principal, conflict, scope, claim, now)
    else:
        claim()
    session.refresh(conflict)
    return conflict_item(session, conflict, result)


def _apply_device_value(
    session: Session, principal: Principal, conflict: Conflict, scope: _Scoped, claim: Callable[[], None],
    now: datetime,
) -> ItemResult:
    """The device's fields as a fresh correction on top of the record's current version."""
    record = session.get(Record, conflict.record_id)
    if record is None:  # records are never deleted; a conflict always names a stored one
        raise ApiError(409, "record_missing", "The record of this conflict no longer exists.")
    device_data = conflict.mutation.get("data") or {}
    mutation = {
        "op_id": str(uuid.uuid4()),
        "kind": "correct",
        "entity": conflict.entity,
        "id": conflict.record_id,
        # The coordinator has seen the server value and chose the device's: no staleness to detect.
        "base_version": record.version,
        "data": device_data,
        "reason": f"Conflict {conflict.id} resolved by {principal.username or 'a coordinator'}: device value.",
    }
    device = DeviceContext(device_id=conflict.device_id or "", team_id=scope.team_id, country=scope.country)
    result = _run(session, principal, device, mutation, claim, now)
    if result.status is ItemStatus.REJECTED:
        raise validation_error(result.errors, "The device's values can no longer be applied to this record.")
    if result.status is ItemStatus.CONFLICT:
        # Only a voided record conflicts at its current version: a void wins over any correction.
        raise ApiError(409, "record_voided", "The record has been voided; the device's values cannot be applied.")
    return result


# --- quarantine --------------------------------------------------------------------------------


def discard_quarantined(
    session: Session, principal: Principal, quarantine_id: int, *, reason: str, now: datetime
) -> dict[str, Any]:
    """Close a quarantined mutation without applying it; the reason is kept in `note`."""
    row = quarantined_in_scope(session, principal, quarantine_id)
    _claim(session, QuarantinedMutation, row.id, "quarantined mutation", resolution=DISCARDED,
           principal=principal, now=now, note=reason)
    session.refresh(row)
    redact_row(row)  # resolved: values of fields the server does not know are not kept
    session.flush()
    return quarantine_item(session, row, None)


def apply_quarantined(
    session: Session, principal: Principal, quarantine_id: int, *, mutation: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Run a fixed mutation through the engine as the quarantined row's device; close the row if it applies.

    `duplicate` also closes it: the op is already applied (e.g. the tablet sent it again after the
    fix), so nothing is left to do. A rejection is a 422 naming the fields under `mutation.`; a
    stale correction is a 409 with the server's current values.
    """
    row = quarantined_in_scope(session, principal, quarantine_id)
    scope = _scope(session, principal, row.team_id) if row.team_id is not None else None
    if scope is None:  # only an admin reaches a row whose team is missing
        raise ApiError(409, "no_device_context", "This quarantined mutation has no team to apply it for.")
    claim = functools.partial(_claim, session, QuarantinedMutation, row.id, "quarantined mutation",
                              resolution=APPLIED, principal=principal, now=now)
    device = DeviceContext(device_id=row.device_id or "", team_id=scope.team_id, country=scope.country)
    result = _run(session, principal, device, mutation, claim, now)
    if result.status is ItemStatus.REJECTED:
        raise validation_error({f"mutation.{path}": messages for path, messages in result.errors.items()},
                               "The fixed mutation is still not valid.")
    if result.status is ItemStatus.CONFLICT:
        raise ApiError(
            409,
            "edit_conflict",
            f"The record changed since base_version; it is now at version {result.current_version}.",
            {"mutation.base_version": [f"Fields {', '.join(sorted(result.current or {}))} changed since; "
                                       f"set base_version to {result.current_version} to overwrite them."]},
            extra={"current_version": result.current_version, "current": result.current},
        )
    session.refresh(row)
    redact_row(row)
    session.flush()
    return quarantine_item(session, row, result)


def quarantined_in_scope(session: Session, principal: Principal, quarantine_id: int) -> QuarantinedMutation:
    row = session.get(QuarantinedMutation, quarantine_id)
    # A row without a team is outside every coordinator's countries; only admins see it.
    in_scope = row is not None and (
        principal.countries is None or (row.team_id is not None and _scope(session, principal, row.team_id))
    )
    if row is None or not in_scope:
        raise ApiError(404, "not_found", f"No quarantined mutation {quarantine_id} in your countries.")
    return row


# --- shared ------------------------------------------------------------------------------------


def _scope(session: Session, principal: Principal, team_id: str) -> _Scoped | None:
    country = session.scalar(select(Team.country_code).where(Team.id == team_id))
    if country is None or not principal.can_see_country(country):
        return None
    return _Scoped(country=country, team_id=team_id)


def _claim(
    session: Session,
    model: type[Conflict] | type[QuarantinedMutation],
    item_id: int,
    noun: str,
    *,
    resolution: str,
    principal: Principal,
    now: datetime,
    note: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": RESOLVED,
        "resolution": resolution,
        "resolved_at": naive_utc(now),
        "resolved_by": principal.user_id,
    }
    if note is not None:
        values["note"] = note
    closed = session.execute(
        update(model)
        .where(model.id == item_id, model.status == OPEN)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(409, "already_resolved", f"This {noun} has already been resolved.")


class _Resolved(Translation[ItemResult]):
    """A coordinator's fix, for the envelope: one mutation, written as `device`; the item being
    resolved is the ledger (`claim` closes it, or raises 409 `already_resolved`)."""

    intake = RESOLUTION

    def __init__(self, principal: Principal, mutation: dict[str, Any], claim: Callable[[], None]) -> None:
        self._principal = principal
        self._mutation = mutation
        self._claim = claim

    def recall(self, session: Session, *, revoked: bool) -> ItemResult | None:
        self._claim()
        return None

    def mutations(self, session: Session, now: datetime) -> list[Any]:
        return [self._mutation]

    def settle(self, session: Session, results: list[ItemResult], now: datetime, staged: StagedWrites) -> ItemResult:
        (result,) = results
        staged.flush()  # the revision stamped below is among the staged rows
        if result.status not in (ItemStatus.REJECTED, ItemStatus.CONFLICT):
            # Stamp the author on the revision the engine just wrote (a no-op correction or a
            # duplicate writes none, and then this updates nothing).
            session.execute(
                update(RecordRevision)
                .where(RecordRevision.record_id == result.id, RecordRevision.op_id == result.op_id)
                .values(user_id=self._principal.user_id)
                .execution_options(synchronize_session=False)
            )
        return result


def _run(session: Session, principal: Principal, device: DeviceContext, mutation: dict[str, Any],
         claim: Callable[[], None], now: datetime) -> ItemResult:
    """One mutation through the write envelope, in the request's transaction, authored by the
    coordinator. A rejection or a conflict stages a quarantine row or a conflict, but the
    coordinator gets the answer directly and the request's error response rolls everything back."""
    # No client time: the coordinator's request has no device clock to judge.
    return write(session, device, _Resolved(principal, mutation, claim), now=aware_utc(now))


def _username(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id is not None else None


def conflict_item(session: Session, row: Conflict, result: ItemResult | None) -> dict[str, Any]:
    return {
        **conflict_dict(row),
        "resolution": row.resolution,
        "resolved_at": isoformat_z(row.resolved_at),
        "resolved_by": _username(session, row.resolved_by),
        "result": result.to_wire() if result is not None else None,
    }


def quarantine_item(session: Session, row: QuarantinedMutation, result: ItemResult | None) -> dict[str, Any]:
    return {
        **quarantine_dict(row),
        "resolution": row.resolution,
        "resolved_at": isoformat_z(row.resolved_at),
        "resolved_by": _username(session, row.resolved_by),
        "note": row.note,
        "result": result.to_wire() if result is not None else None,
    }
