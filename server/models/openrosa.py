"""OpenRosa intake bookkeeping (server/integrations/openrosa/): what each submitted instance became.

The records themselves are written by the sync engine like any push; these rows only remember,
per `instanceID`, the XML received (its hash for "identical resend" and "changed resend", the text
itself for split submissions and for the record of what was sent) and the answer given, so a resend
is answered the same without being applied twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db


class OpenRosaSubmission(db.Model):
    __tablename__ = "openrosa_submissions"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    xml_sha256: Mapped[str] = mapped_column(String(64))
    xml: Mapped[str] = mapped_column(Text)
    # `incomplete` (split submission, waiting for its last part), `applied`, `quarantined`,
    # `conflict`, or `refused` (sent by a revoked device: its mutation is in quarantine).
    outcome: Mapped[str] = mapped_column(String(12))
    # The record it wrote or would write (an edit's is the original instance's record), and the
    # version it left, which an edit of this instance names as its base_version.
    record_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int | None] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)


class OpenRosaAttachment(db.Model):
    """A file sent with a submission (a photo, a signature): kept, so nothing sent is lost."""

    __tablename__ = "openrosa_attachments"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("openrosa_submissions.instance_id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("instance_id", "filename"),)
