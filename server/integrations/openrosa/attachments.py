"""Bounds on what a tablet's attachments may keep on the server (issue 29 item 3; docs/reliability.md).

Fieldsync's forms have no media question, so an attachment is unexpected, but one that arrives is kept
(nothing sent is lost) within these bounds, checked before any byte of it is written:

- per instance: at most `MAX_FILES_PER_INSTANCE` files and `MAX_BYTES_PER_INSTANCE` bytes in all, however
  many split (`*isIncomplete*`) parts carry them;
- per device: at most `MAX_PENDING_BYTES_PER_DEVICE` bytes of attachments of instances still incomplete;
- after an instance is settled (applied, quarantined, in conflict, refused), a resend adds none
  (server/integrations/openrosa/submission.py replays the stored answer first);
- an instance left incomplete for `INCOMPLETE_TTL` is expired: its parts and attachments are deleted when
  its device next sends an attachment (the last part never came; Collect resends the whole instance).

Past a bound the submission is refused with 413 naming the bound, and nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.integrations.openrosa.responses import OpenRosaError
from server.models import OpenRosaAttachment, OpenRosaSubmission

MAX_FILES_PER_INSTANCE = 20
MAX_BYTES_PER_INSTANCE = 10 * 1024 * 1024
MAX_PENDING_BYTES_PER_DEVICE = 50 * 1024 * 1024
INCOMPLETE_TTL = timedelta(days=7)
INCOMPLETE = "incomplete"  # server/integrations/openrosa/submission.py's outcome of an instance still waiting for parts


def expire_incomplete(session: Session, device_id: str, now: datetime, *, keep: str | None = None) -> None:
    """Delete the device's instances left incomplete for longer than INCOMPLETE_TTL, with their files
    (except `keep`, the instance being received now)."""
    stale = select(OpenRosaSubmission.instance_id).where(
        OpenRosaSubmission.device_id == device_id, OpenRosaSubmission.outcome == INCOMPLETE,
        OpenRosaSubmission.instance_id != (keep or ""),
        OpenRosaSubmission.received_at < now - INCOMPLETE_TTL)
    ids = list(session.scalars(stale))
    if ids:
        session.execute(delete(OpenRosaAttachment).where(OpenRosaAttachment.instance_id.in_(ids)))
        session.execute(delete(OpenRosaSubmission).where(OpenRosaSubmission.instance_id.in_(ids)))


def check_budget(session: Session, device_id: str, instance_id: str, new: Sequence[Any], now: datetime) -> None:
    """Refuse (413) attachments `new` (with `.content`) that would pass a bound; expire stale parts first."""
    if not new:
        return
    expire_incomplete(session, device_id, now, keep=instance_id)
    files, kept = session.execute(
        select(func.count(OpenRosaAttachment.id), func.coalesce(func.sum(func.length(OpenRosaAttachment.content)), 0))
        .where(OpenRosaAttachment.instance_id == instance_id)).one()
    adding = sum(len(attachment.content) for attachment in new)
    if files + len(new) > MAX_FILES_PER_INSTANCE:
        raise OpenRosaError(413, f"An instance may carry at most {MAX_FILES_PER_INSTANCE} attachments.")
    if kept + adding > MAX_BYTES_PER_INSTANCE:
        raise OpenRosaError(413, f"The attachments of one instance may not exceed {MAX_BYTES_PER_INSTANCE} bytes.")
    pending = session.scalar(
        select(func.coalesce(func.sum(func.length(OpenRosaAttachment.content)), 0))
        .join(OpenRosaSubmission, OpenRosaSubmission.instance_id == OpenRosaAttachment.instance_id)
        .where(OpenRosaSubmission.device_id == device_id, OpenRosaSubmission.outcome == INCOMPLETE)) or 0
    if pending + adding > MAX_PENDING_BYTES_PER_DEVICE:
        raise OpenRosaError(413, f"This tablet's unfinished submissions may not keep more than "
                                 f"{MAX_PENDING_BYTES_PER_DEVICE} bytes of attachments.")
