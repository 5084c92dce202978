"""`POST submission`: one OpenRosa instance becomes one mutation of the sync engine (openrosa.md).

Mapping (docs/openrosa.md has the table):
- `meta/instanceID` is the op id and, for a new instance, the record id: a `create`.
- `meta/deprecatedID` naming an instance already received is an edit: a `correct` of that
  instance's record, based on the version that instance left, so the engine's conflict rules apply
  as for a stale JSON correction. Naming one never received (edited before it was ever sent), it is
  a create under the new instanceID.
- The team is the device's; `recorded_at` is the form's `end` (or `meta/timeEnd`), else receipt time.

The write path is the JSON push's: `server.persistence.store.apply_batch` (the store's unit of work)
in the request's one transaction (committed by server/web/transactions.py), retried as a whole on
transient database errors. Outcomes: applied or duplicate -> 201; rejected by a domain rule -> 202
with the reasons (the engine quarantined it); a stale edit that conflicts -> 202 (a conflict for a
coordinator). A revoked device's instance goes to quarantine as `device_revoked` and is answered 403.

Resends: `openrosa_submissions` remembers each instanceID with the SHA-256 of its XML and the
answer. The identical XML again gets the same answer and changes nothing; other XML under the same
instanceID is 409. Split submissions (`*isIncomplete*` = yes, the same XML in every part) keep
their attachments and are applied when the last part arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from server.intake.push import _with_retries, advisory_key
from server.integrations.openrosa.instance import CLEARABLE_FIELDS, Instance
from server.integrations.openrosa.responses import OpenRosaError
from server.models import Device, OpenRosaAttachment, OpenRosaSubmission, Record
from server.persistence.reference_cache import STAMP, reference_snapshot
from server.persistence.store import apply_batch, naive_utc, quarantine_batch
from server.persistence.timeutil import isoformat_z
from server.web.auth import seen_long_ago
from sync.domain import DeviceContext, ItemResult, ItemStatus

INCOMPLETE = "incomplete"
APPLIED = "applied"
QUARANTINED = "quarantined"
CONFLICT = "conflict"
REFUSED = "refused"

EDIT_REASON = "edited in ODK Collect"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Submission:
    instance: Instance
    xml: bytes
    attachments: tuple[Attachment, ...]
    incomplete: bool  # a part named *isIncomplete* said "yes": more parts follow
    app_version: str | None  # from the User-Agent (Collect sends "... org.odk.collect.android/v2024.2.4")


@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    revoked: bool = False  # the caller answers 403 and must commit what was kept


def submit(session: Session, device: DeviceContext, submission: Submission, *, now: datetime | None = None) -> Answer:
    """Apply one submission in the caller's transaction; retried whole on transient DB errors."""
    return _with_retries(session, lambda: _attempt(session, device, submission, now or datetime.now(UTC)))


_DEVICES = Device.__table__
_SUBMISSIONS = OpenRosaSubmission.__table__
# Built once: the device's state, whether this instanceID was already received and the reference
# data's stamp, in one indexed read. A first submission (nearly every request) then loads no ORM object at all.
_STATE = (
    select(_DEVICES.c.status, _DEVICES.c.last_seen_at, _DEVICES.c.app_version,
           _SUBMISSIONS.c.device_id.label("sent_by"), STAMP)
    .select_from(_DEVICES.outerjoin(_SUBMISSIONS, _SUBMISSIONS.c.instance_id == bindparam("instance_key")))
    .where(_DEVICES.c.id == bindparam("device_key"))
)
_INSERT_SUBMISSION = insert(_SUBMISSIONS)


def _attempt(session: Session, device: DeviceContext, submission: Submission, now: datetime) -> Answer:
    instance = submission.instance
    _lock(session, instance.instance_id)
    state = session.execute(_STATE, {"instance_key": instance.instance_id, "device_key": device.device_id}).first()
    revoked = state is None or state.status != "active"
    xml_hash = hashlib.sha256(submission.xml).hexdigest()
    # The ORM row only when one exists (a resend, a split submission's later part) or the device
    # row is gone; the first submission of an instance is written with one Core INSERT below.
    row = None if state is not None and state.sent_by is None else session.get(OpenRosaSubmission,
                                                                              instance.instance_id)
    if row is not None and row.device_id != device.device_id:
        raise OpenRosaError(409, "Another tablet already sent a submission with this instanceID.")
    if revoked:
        return _keep_revoked(session, device, submission, xml_hash, row, now)
    if row is not None and row.xml_sha256 != xml_hash:
        raise OpenRosaError(
            409,
            "A different submission with this instanceID was already received. "
            "To change a sent form, edit it so that it carries meta/deprecatedID.",
        )
    if row is not None and row.outcome == REFUSED:
        # Sent while the tablet was revoked, and it is active again (revocation undone by hand): its
        # mutation sits in quarantine, so applying it now loses and doubles nothing.
        row.outcome = INCOMPLETE
    if row is not None:
        _keep_attachments(session, instance.instance_id, submission.attachments, now)
        if row.outcome != INCOMPLETE:
            return _replay(row)
        if submission.incomplete:
            return Answer(201, "Part received; waiting for the rest of this submission.")
    received = {
        "instance_id": instance.instance_id,
        "device_id": device.device_id,
        "form_id": instance.form_id,
        "xml_sha256": xml_hash,
        "xml": submission.xml.decode("utf-8"),
        "outcome": INCOMPLETE,
        "received_at": naive_utc(now),
    }
    if row is None and (submission.attachments or submission.incomplete):
        row = OpenRosaSubmission(**received)
        session.add(row)
        session.flush()  # attachments reference it
        _keep_attachments(session, instance.instance_id, submission.attachments, now)
        if submission.incomplete:
            return Answer(201, "Part received; waiting for the rest of this submission.")

    mutation, record_id = _mutation(session, instance, device, now)
    reference = reference_snapshot(session, state.reference_stamp) if state is not None else None
    (result,) = apply_batch(session, device, [mutation], batch_id=None, now=now, client_time=None,
                            reference=reference)
    answer, settled = _settle(result, mutation, record_id, now)
    if row is None:
        # Written only now, settled: one INSERT, not an INSERT and an UPDATE.
        session.execute(_INSERT_SUBMISSION, {**received, **settled})
    else:
        for name, value in settled.items():
            setattr(row, name, value)
        session.flush()
    if state is not None:
        _touch_device(session, device.device_id, state, submission.app_version, now)
    return answer


def _touch_device(session: Session, device_id: str, state: Any, app_version: str | None, now: datetime) -> None:
    """`last_seen_at` when due (`seen_long_ago`), the app version when it changed."""
    changes: dict[str, Any] = {}
    seen = naive_utc(now)
    if seen_long_ago(state.last_seen_at, seen):
        changes["last_seen_at"] = seen
    if app_version and state.app_version != app_version[:32]:
        changes["app_version"] = app_version[:32]
    if changes:
        session.execute(update(_DEVICES).where(_DEVICES.c.id == device_id).values(**changes))


def _lock(session: Session, instance_id: str) -> None:
    """Serialise requests naming one instanceID (Collect retrying while the first is in flight)."""
    if session.get_bind().dialect.name == "postgresql":
        # Blocking, unlike push's try-lock: the second request then reads the first's committed row
        # and replays its answer. SQLite's BEGIN IMMEDIATE already serialises every writer.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key("openrosa:" + instance_id)})


def _replay(row: OpenRosaSubmission) -> Answer:
    return Answer(row.http_status or 201, row.message or "Received.")


def _mutation(session: Session, instance: Instance, device: DeviceContext, now: datetime) -> tuple[dict, str]:
    """The wire mutation (as a JSON push item) for this instance, and the record it targets."""
    data: dict[str, Any] = {
        **instance.fields,
        "team_id": device.team_id,
        "recorded_at": instance.recorded_at or isoformat_z(now),
    }
    previous = session.get(OpenRosaSubmission, instance.deprecated_id) if instance.deprecated_id else None
    base_version = previous.version if previous is not None else None
    if previous is not None and previous.record_id is not None and base_version is None:
        # Quarantined, then fixed and applied by a coordinator: the edit corrects what was applied.
        applied = session.get(Record, previous.record_id)
        base_version = applied.version if applied is not None else None
    if previous is not None and previous.record_id is not None and base_version is not None:
        for name in CLEARABLE_FIELDS[instance.entity]:
            data.setdefault(name, None)  # emptied in the edit: removed from the record
        return {
            "op_id": instance.instance_id,
            "kind": "correct",
            "entity": instance.entity.value,
            "id": previous.record_id,
            "base_version": base_version,
            "data": data,
            "reason": EDIT_REASON,
        }, previous.record_id
    # A new instance; or an edit of one never applied (quarantined: it still names that record id,
    # so fixing the quarantined original later cannot make a second record) or never received.
    record_id = previous.record_id if previous is not None and previous.record_id else instance.instance_id
    return {
        "op_id": instance.instance_id,
        "kind": "create",
        "entity": instance.entity.value,
        "id": record_id,
        "data": data,
    }, record_id


def _settle(result: ItemResult, mutation: dict, record_id: str, now: datetime) -> tuple[Answer, dict[str, Any]]:
    """The answer to the tablet, and the outcome columns of its `openrosa_submissions` row."""
    if result.status in (ItemStatus.APPLIED, ItemStatus.DUPLICATE):
        outcome, version = APPLIED, result.version
        answer = Answer(201, f"Received: record {record_id}, version {result.version}.")
    elif result.status is ItemStatus.CONFLICT:
        # An edit of this edit builds on the version the worker saw.
        outcome, version = CONFLICT, mutation.get("base_version")
        fields = ", ".join(sorted(result.current or {}))
        answer = Answer(
            202,
            f"Received, but not applied: the record was changed on the server since ({fields}). "
            "A coordinator will resolve the conflict.",
        )
    else:
        outcome, version = QUARANTINED, None
        # The engine's messages end with a full stop already ("Site is not active.").
        answer = Answer(202, "Received, but not counted: " + _reasons(result.errors or {}).rstrip(".") + ". "
                        "It is kept in quarantine for a coordinator to fix or discard.")
    return answer, {
        "outcome": outcome,
        "version": version,
        "record_id": record_id,
        "completed_at": naive_utc(now),
        "http_status": answer.status,
        "message": answer.message,
    }


def _reasons(errors: dict[str, list[str]]) -> str:
    parts = []
    for path, messages in sorted(errors.items()):
        name = path.removeprefix("data.")
        parts.append(f"{name}: {' '.join(messages)}")
    return "; ".join(parts) or "it did not pass the server's checks"


def _keep_revoked(
    session: Session,
    device: DeviceContext,
    submission: Submission,
    xml_hash: str,
    row: OpenRosaSubmission | None,
    now: datetime,
) -> Answer:
    """Keep a revoked tablet's instance in quarantine (once) and refuse it: nothing is counted."""
    message = "This tablet was revoked; ask your coordinator. What it sent is kept for review."
    if row is not None and (row.outcome != INCOMPLETE or row.xml_sha256 != xml_hash):
        # Kept or applied already (a resend), or other XML under a used instanceID: nothing to add.
        return Answer(403, message, revoked=True)
    mutation, _ = _mutation(session, submission.instance, device, now)
    quarantine_batch(session, device, [mutation], batch_id=None, now=now)
    if row is None:
        row = OpenRosaSubmission(
            instance_id=submission.instance.instance_id,
            device_id=device.device_id,
            form_id=submission.instance.form_id,
            xml_sha256=xml_hash,
            xml=submission.xml.decode("utf-8"),
            received_at=naive_utc(now),
        )
        session.add(row)
    row.outcome = REFUSED
    row.http_status = 403
    row.message = message
    row.completed_at = naive_utc(now)
    session.flush()
    _keep_attachments(session, submission.instance.instance_id, submission.attachments, now)
    return Answer(403, message, revoked=True)


def _keep_attachments(session: Session, instance_id: str, attachments: tuple[Attachment, ...], now: datetime) -> None:
    if not attachments:
        return
    known = set(
        session.scalars(select(OpenRosaAttachment.filename).where(OpenRosaAttachment.instance_id == instance_id))
    )
    for attachment in attachments:
        if attachment.filename in known:
            continue  # a part sent again
        known.add(attachment.filename)
        session.add(
            OpenRosaAttachment(
                instance_id=instance_id,
                filename=attachment.filename[:255],
                content_type=attachment.content_type[:100],
                sha256=hashlib.sha256(attachment.content).hexdigest(),
                content=attachment.content,
                received_at=naive_utc(now),
            )
        )
    session.flush()
