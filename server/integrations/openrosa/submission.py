"""`POST submission`: one OpenRosa instance becomes one mutation of the sync engine (openrosa.md).

Mapping (docs/openrosa.md has the table):
- `meta/instanceID` is the op id and, for a new instance, the record id: a `create`.
- `meta/deprecatedID` naming an instance already received from the same team is an edit: a
  `correct` of that instance's record, based on the version that instance left, so the engine's
  conflict rules apply as for a stale JSON correction. Naming one never received (edited before it
  was ever sent), or one of another team (unknown to this tablet, as another team's record is), it
  is a create under the new instanceID.
- The team is the device's; `recorded_at` is the form's `end` (or `meta/timeEnd`), else receipt time.

The write is the write envelope's (server/intake/envelope.py), as for the JSON push: one
transaction, retried whole on transient database errors, the instanceID claimed (waited for: Collect
retries while its first POST is in flight), a revoked tablet's instance kept in quarantine within
the per-device bound (its attachments are not kept), `apply_batch`, the device touch. Outcomes:
applied or duplicate -> 201; rejected by a domain rule -> 202 with the reasons (the engine
quarantined it); a stale edit that conflicts -> 202 (a conflict for a coordinator); a revoked device
-> 403.

Resends: the ledger `openrosa_submissions` remembers each instanceID with the SHA-256 of its XML
and the answer. The identical XML again gets the same answer and changes nothing; other XML under
the same instanceID is 409. Split submissions (`*isIncomplete*` = yes, the same XML in every part)
keep their attachments and are applied when the last part arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from server.intake import OPENROSA
from server.intake.envelope import Translation, same_team, write
from server.integrations.openrosa.attachments import check_budget
from server.integrations.openrosa.instance import CLEARABLE_FIELDS, Instance
from server.integrations.openrosa.responses import OpenRosaError
from server.models import OpenRosaAttachment, OpenRosaSubmission, Record
from server.persistence.staged import StagedTable, StagedWrites
from server.persistence.timeutil import isoformat_z, naive_utc
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


def submit(session: Session, device: DeviceContext, submission: Submission, *, revoked_quarantine_max: int,
           now: datetime | None = None) -> Answer:
    """Apply one submission in the caller's transaction (the write envelope's)."""
    return write(session, device, _Submitted(device, submission), revoked_quarantine_max=revoked_quarantine_max,
                 now=now)


_SUBMISSIONS = OpenRosaSubmission.__table__
# The ledger row of a submission applied at once (nearly every one), staged with the batch's
# revisions and op memory: written in the same statement on PostgreSQL (server/persistence/staged.py).
_LEDGER = StagedTable(_SUBMISSIONS, order=60)
# Built once: whether the instanceID was received, without loading an ORM object, so a first
# submission (nearly every request) loads none at all.
_RECEIVED = select(_SUBMISSIONS.c.instance_id).where(_SUBMISSIONS.c.instance_id == bindparam("instance_key"))
REVOKED_MESSAGE = "This tablet was revoked; ask your coordinator. What it sent is kept for review."


class _Submitted(Translation[Answer]):
    """One submission, for the envelope; its ledger row is `openrosa_submissions`."""

    intake = OPENROSA
    wait_for_key = True

    def __init__(self, device: DeviceContext, submission: Submission) -> None:
        self.key = submission.instance.instance_id
        self.app_version = submission.app_version
        self._device = device
        self._submission = submission
        self._hash = hashlib.sha256(submission.xml).hexdigest()
        self._row: OpenRosaSubmission | None = None
        self._built: tuple[dict[str, Any], str] | None = None

    def recall(self, session: Session, *, revoked: bool) -> Answer | None:
        self._built = None  # a retried attempt builds again, from what its own transaction reads
        received = session.execute(_RECEIVED, {"instance_key": self.key}).first() is not None
        row = self._row = session.get(OpenRosaSubmission, self.key) if received else None
        if row is not None and row.device_id != self._device.device_id:
            raise OpenRosaError(409, "Another tablet already sent a submission with this instanceID.")
        if revoked:
            if row is not None and (row.outcome != INCOMPLETE or row.xml_sha256 != self._hash):
                # Kept or applied already (a resend), or other XML under a used instanceID: nothing to add.
                return Answer(403, REVOKED_MESSAGE, revoked=True)
            return None
        if row is not None and row.xml_sha256 != self._hash:
            raise OpenRosaError(
                409,
                "A different submission with this instanceID was already received. "
                "To change a sent form, edit it so that it carries meta/deprecatedID.",
            )
        if row is not None and row.outcome == REFUSED:
            # Sent while the tablet was revoked, and it is active again (revocation undone by hand): its
            # mutation sits in quarantine, so applying it now loses and doubles nothing.
            row.outcome = INCOMPLETE
        if row is not None and row.outcome != INCOMPLETE:
            return _replay(row)
        return None

    def hold(self, session: Session, now: datetime) -> Answer | None:
        submission = self._submission
        if self._row is None and (submission.attachments or submission.incomplete):
            self._row = OpenRosaSubmission(**self._received(now))
            session.add(self._row)
            session.flush()  # attachments reference it
        if self._row is not None:
            _keep_attachments(session, self.key, submission.attachments, now,  # type: ignore[arg-type]
                              self._device.device_id)
        if submission.incomplete:
            return Answer(201, "Part received; waiting for the rest of this submission.")
        return None

    def mutations(self, session: Session, now: datetime) -> list[Any]:
        if self._built is None:
            self._built = _mutation(session, self._submission.instance, self._device, now)
        return [self._built[0]]

    def settle(self, session: Session, results: list[ItemResult], now: datetime, staged: StagedWrites) -> Answer:
        (result,) = results
        assert self._built is not None
        mutation, record_id = self._built
        answer, settled = _settle(result, mutation, record_id, now)
        if self._row is None:
            # Written only now, settled: one INSERT, not an INSERT and an UPDATE.
            staged.add(_LEDGER, [{**self._received(now), **settled}])
        else:
            for name, value in settled.items():
                setattr(self._row, name, value)
            session.flush()
        return answer

    def refuse(self, session: Session, *, kept: bool, now: datetime) -> Answer:
        if kept:
            # Remembered (so a resend is not kept twice), without its attachments: a revoked tablet's
            # mutation is what a coordinator may need; its photos are not.
            row = self._row
            if row is None:
                row = OpenRosaSubmission(**self._received(now))
                session.add(row)
            row.outcome = REFUSED
            row.http_status = 403
            row.message = REVOKED_MESSAGE
            row.completed_at = naive_utc(now)
            session.flush()
        return Answer(403, REVOKED_MESSAGE, revoked=True)

    def _received(self, now: datetime) -> dict[str, Any]:
        instance = self._submission.instance
        return {
            "instance_id": instance.instance_id,
            "device_id": self._device.device_id,
            "form_id": instance.form_id,
            "xml_sha256": self._hash,
            "xml": self._submission.xml.decode("utf-8"),
            "outcome": INCOMPLETE,
            "received_at": naive_utc(now),
        }


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
    if previous is not None and not same_team(session, device, previous.device_id):
        previous = None  # another team's instance is unknown to this tablet: as if never received
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


def _keep_attachments(session: Session, instance_id: str, attachments: tuple[Attachment, ...], now: datetime,
                      device_id: str) -> None:
    if not attachments:
        return
    known = set(
        session.scalars(select(OpenRosaAttachment.filename).where(OpenRosaAttachment.instance_id == instance_id))
    )
    check_budget(session, device_id, instance_id, [a for a in attachments if a.filename[:255] not in known],
                 naive_utc(now))
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
