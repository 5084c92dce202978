"""OpenRosa limits per instance and per device, not only per request (issue 29 items 2, 3 and 7).

Each reproduction of the issue, scaled to what a test can send in a moment: thousands of distinct
unknown elements (reported as a count and the first few names; what the quarantine keeps stays small),
attachments of one instance past its bound over several split parts, a resend of a settled instance
with a new file, expired incomplete parts, a quarantine page bounded in bytes, and messages that name
the limit actually exceeded.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.intake.review import QUARANTINE_PAGE_MAX_BYTES
from server.integrations.openrosa import attachments as bounds
from server.integrations.openrosa.forms import served_form
from server.models import OpenRosaAttachment, OpenRosaSubmission, QuarantinedMutation
from server.persistence.timeutil import utcnow
from tests.factories import EnrolledDevice, auth_headers, make_device, make_token, make_user
from tests.openrosa_instances import consultation_values, fill
from tests.server.integrations.test_openrosa import message, submit

B = "limitsboundary"


def _xml(**extra: str) -> tuple[str, bytes]:
    return fill(served_form("fieldsync_consultation").xml, {**consultation_values(), **extra})


def _with_unknown(count: int) -> bytes:
    _, xml = _xml()
    junk = "".join(f"<junk{i}>x</junk{i}>" for i in range(count)).encode()
    return xml.replace(b"<meta>", junk + b"<meta>", 1)


def test_unknown_elements_are_a_count_and_the_first_few_names(client: FlaskClient, session: Session,
                                                              device: EnrolledDevice) -> None:
    answer = submit(client, device, _with_unknown(20_000))
    assert answer.status_code == 202
    _, text = message(answer)
    assert "20000 elements the form does not have" in text
    assert "junk0" in text and "junk19999" not in text
    assert len(answer.data) < 4096, "one sentence, not thousands of messages"
    (kept,) = session.scalars(select(QuarantinedMutation).where(QuarantinedMutation.device_id == device.device.id))
    assert len(json.dumps(kept.mutation)) + len(json.dumps(kept.errors)) < 8192, "what the quarantine keeps is bounded"


def test_attachments_of_one_instance_are_bounded_across_split_parts(client: FlaskClient, session: Session,
                                                                    device: EnrolledDevice, monkeypatch) -> None:
    monkeypatch.setattr(bounds, "MAX_BYTES_PER_INSTANCE", 3000)
    _, xml = _xml()
    for index in range(3):
        answer = submit(client, device, xml, incomplete=True, attachments={f"p{index}.jpg": b"\xff" * 900})
        assert answer.status_code == 201, message(answer)
    refused = submit(client, device, xml, incomplete=True, attachments={"p3.jpg": b"\xff" * 900})
    assert refused.status_code == 413
    assert "3000 bytes" in message(refused)[1]
    assert session.scalar(select(func.count()).select_from(OpenRosaAttachment)) == 3


def test_a_settled_instance_keeps_no_new_attachment(client: FlaskClient, session: Session,
                                                    device: EnrolledDevice) -> None:
    _, xml = _xml()
    assert submit(client, device, xml, attachments={"a.jpg": b"\xff\xd8one"}).status_code == 201
    again = submit(client, device, xml, attachments={"renamed.jpg": b"\xff\xd8" * 1000})
    assert again.status_code == 201
    names = set(session.scalars(select(OpenRosaAttachment.filename)))
    assert names == {"a.jpg"}


def test_incomplete_parts_expire(client: FlaskClient, session: Session, device: EnrolledDevice) -> None:
    stale_id, stale = _xml()
    assert submit(client, device, stale, incomplete=True, attachments={"old.jpg": b"\xff" * 100}).status_code == 201
    session.execute(update(OpenRosaSubmission).where(OpenRosaSubmission.instance_id == stale_id)
                    .values(received_at=utcnow().replace(tzinfo=None) - bounds.INCOMPLETE_TTL - timedelta(hours=1)))
    session.commit()
    _, fresh = _xml()
    assert submit(client, device, fresh, incomplete=True, attachments={"new.jpg": b"\xff" * 100}).status_code == 201
    assert session.get(OpenRosaSubmission, stale_id) is None
    assert set(session.scalars(select(OpenRosaAttachment.filename))) == {"new.jpg"}


def test_pending_attachments_per_device_are_bounded(client: FlaskClient, session: Session,
                                                    device: EnrolledDevice, monkeypatch) -> None:
    monkeypatch.setattr(bounds, "MAX_PENDING_BYTES_PER_DEVICE", 2500)
    for _ in range(2):
        _, xml = _xml()
        assert submit(client, device, xml, incomplete=True, attachments={"p.jpg": b"\xff" * 1000}).status_code == 201
    _, xml = _xml()
    refused = submit(client, device, xml, incomplete=True, attachments={"p.jpg": b"\xff" * 1000})
    assert refused.status_code == 413 and "2500 bytes" in message(refused)[1]
    other = make_device(session)
    session.commit()
    assert submit(client, other, xml, incomplete=True, attachments={"p.jpg": b"\xff" * 1000}).status_code == 201


def _part(name: str, content: bytes, headers: str = "") -> bytes:
    return (f'--{B}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n{headers}'
            f"Content-Type: text/xml\r\n\r\n").encode() + content + b"\r\n"


@pytest.mark.parametrize(("body", "says"), [
    (lambda xml: _part("xml_submission_file", xml) + b"".join(_part(f"f{i}", b"x") for i in range(1100)),
     "more than 1000 parts"),
    (lambda xml: _part("xml_submission_file", xml, headers=f"X-Long: {'a' * 2_000_000}\r\n"),
     "header is longer than"),
])
def test_messages_name_the_limit_exceeded(client: FlaskClient, device: EnrolledDevice, body, says) -> None:
    _, xml = _xml()
    answer = client.post(f"/openrosa/v1/key/{device.token}/submission", data=body(xml) + f"--{B}--\r\n".encode(),
                         content_type=f"multipart/form-data; boundary={B}")
    assert answer.status_code == 413
    text = message(answer)[1]
    assert says in text and "larger than" not in text


def test_the_quarantine_page_is_bounded_in_bytes(client: FlaskClient, session: Session,
                                                 device: EnrolledDevice) -> None:
    coordinator = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))
    session.commit()
    big = "y" * 200_000  # each quarantined instance carries a 200 kB unknown element (kept: one of the first 5)
    for _ in range(8):
        _, xml = _xml()
        assert submit(client, device, xml.replace(b"<meta>", f"<junk>{big}</junk><meta>".encode(), 1)
                      ).status_code == 202
    seen, cursor, pages = 0, None, 0
    while True:
        answer = client.get("/api/v1/quarantine" + (f"?cursor={cursor}" if cursor else ""), headers=coordinator)
        assert answer.status_code == 200
        assert len(answer.data) <= QUARANTINE_PAGE_MAX_BYTES + 250_000  # one item may end the page past it
        body = answer.get_json()
        seen += len(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == 8 and pages >= 2
