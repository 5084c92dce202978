"""Hostile multipart bodies for `POST submission`: every class is an OpenRosa 4xx, never a 500.

The body is parsed by `server/integrations/openrosa/body.py` (the `multipart` package, not Werkzeug's parser),
so the classes a broken or hostile client can send are generated here rather than picked by hand:
framing (boundaries missing, wrong, unterminated, repeated), part headers (missing, huge, many,
odd encodings), part counts and bytes that are not UTF-8.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.integrations.openrosa.forms import served_form
from server.models import OpenRosaSubmission, Record
from tests.factories import EnrolledDevice
from tests.openrosa_instances import consultation_values, fill

RESPONSE = "{http://openrosa.org/http/response}"
B = "fieldsyncboundary"


def _instance() -> bytes:
    _, xml = fill(served_form("fieldsync_consultation").xml, consultation_values())
    return xml


def _part(name: str, content: bytes, filename: str | None = "submission.xml", content_type: str = "text/xml") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return (f"--{B}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n").encode() \
        + content + b"\r\n"


def _post(client: FlaskClient, device: EnrolledDevice, body: bytes, content_type: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(f"/openrosa/v1/key/{device.token}/submission", data=body,
                       content_type=content_type or f"multipart/form-data; boundary={B}")


def _is_openrosa_error(response) -> bool:  # type: ignore[no-untyped-def]
    root = ET.fromstring(response.data)
    node = root.find(f"{RESPONSE}message")
    return root.tag == f"{RESPONSE}OpenRosaResponse" and node is not None and node.get("nature") == "error"


def _framings(xml: bytes) -> dict[str, tuple[bytes, str | None]]:
    good = _part("xml_submission_file", xml)
    return {
        "no boundary parameter": (good + f"--{B}--\r\n".encode(), "multipart/form-data"),
        "empty boundary": (good + f"--{B}--\r\n".encode(), 'multipart/form-data; boundary=""'),
        "another boundary": (good + f"--{B}--\r\n".encode(), "multipart/form-data; boundary=other"),
        "no closing boundary": (good, None),
        "truncated in the headers": (f"--{B}\r\nContent-Disposition: form-da".encode(), None),
        "truncated in the content": (good[: len(good) // 2], None),
        "no part headers": (f"--{B}\r\n\r\n".encode() + xml + f"\r\n--{B}--\r\n".encode(), None),
        "no blank line after headers": (f"--{B}\r\nContent-Disposition: form-data; name=\"x\"\r\n".encode(), None),
        "a header of 10 KB": (f"--{B}\r\nX-Junk: {'a' * 10_000}\r\n".encode() + good[len(B) + 4:]
                              + f"--{B}--\r\n".encode(), None),
        "1,001 parts": (good + b"".join(_part(f"p{n}", b"x", None) for n in range(1000)) + f"--{B}--\r\n".encode(),
                        None),
        "only the closing boundary": (f"--{B}--\r\n".encode(), None),
        "empty body": (b"", None),
        "epilogue only, no parts": (b"\r\n\r\njunk", None),
        "the part twice": (good + good + f"--{B}--\r\n".encode(), None),
        "name not quoted": (f"--{B}\r\nContent-Disposition: form-data; name=xml_submission_file\r\n\r\n".encode()
                            + xml + f"\r\n--{B}--\r\n".encode(), None),
        "not UTF-8 in the headers": (f"--{B}\r\nContent-Disposition: form-data; name=\"".encode() + b"\xff\xfe"
                                     + b"\"\r\n\r\n" + xml + f"\r\n--{B}--\r\n".encode(), None),
        "isIncomplete not UTF-8": (good + _part("*isIncomplete*", b"\xff\xfeyes", None)
                                   + f"--{B}--\r\n".encode(), None),
    }


@pytest.mark.parametrize("name", sorted(_framings(b"<data/>")))
def test_each_framing_class_is_a_4xx_or_a_clean_answer(client: FlaskClient, session: Session,
                                                        device: EnrolledDevice, name: str) -> None:
    body, content_type = _framings(_instance())[name]
    response = _post(client, device, body, content_type)
    # Some classes are lenient readings of a usable body (a missing closing boundary, the part
    # twice): then the instance is received. None is a 500, and nothing is stored twice.
    assert response.status_code in (201, 400, 413), (name, response.status_code, response.data[:300])
    assert _is_openrosa_error(response) == (response.status_code != 201), name
    assert (session.scalar(select(func.count()).select_from(OpenRosaSubmission)) or 0) <= 1
    assert (session.scalar(select(func.count()).select_from(Record)) or 0) <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.binary(max_size=200), cut=st.integers(0, 2000), junk=st.binary(max_size=200))
def test_random_bytes_around_a_real_body_never_fail_the_server(client: FlaskClient, device: EnrolledDevice,
                                                               prefix: bytes, cut: int, junk: bytes) -> None:
    good = _part("xml_submission_file", b"<data/>") + f"--{B}--\r\n".encode()
    body = prefix + good[:cut] + junk
    response = _post(client, device, body)
    assert response.status_code in (201, 202, 400, 409, 413), (body[:200], response.status_code)
    assert _is_openrosa_error(response) == (response.status_code >= 400)
