"""gzip responses when asked (server/web/compression.py)."""

from __future__ import annotations

import gzip
import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import make_device, make_record


def pull(client: FlaskClient, headers: dict[str, str], **extra: str) -> object:
    return client.get("/api/v1/sync/pull?stream=reference", headers={**headers, **extra})


def test_a_client_that_asks_gets_gzip(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    plain = pull(client, device.headers)
    zipped = pull(client, device.headers, **{"Accept-Encoding": "gzip, deflate"})

    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert int(zipped.headers["Content-Length"]) == len(zipped.data) < len(plain.data) / 3
    unzipped = json.loads(gzip.decompress(zipped.data))
    assert unzipped["changes"] == plain.get_json()["changes"]


def test_no_gzip_unless_asked(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    for headers in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0, identity"},
                    {"Accept-Encoding": "br"}):
        response = pull(client, device.headers, **headers)
        assert "Content-Encoding" not in response.headers, headers
        assert response.get_json()["stream"] == "reference"
        # The answer depends on the header even when not compressed: caches must know.
        assert "Accept-Encoding" in response.headers["Vary"]


def test_records_pages_are_compressed_too(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    for _ in range(50):
        make_record(session)
    response = client.get("/api/v1/sync/pull?stream=records", headers={**device.headers, "Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(response.data))["changes"]) == 50


def test_tiny_bodies_stay_plain(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
    assert response.get_json() == {"status": "ok"}
    assert "Accept-Encoding" in response.headers["Vary"]


def test_small_errors_stay_plain(client: FlaskClient) -> None:
    # Errors go through the hook too; a 401 envelope is tiny, so it stays plain.
    response = client.get("/api/v1/sync/pull?stream=records", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 401 and "Content-Encoding" not in response.headers


def test_an_already_encoded_response_is_left_alone(app: Flask) -> None:
    from server.web.compression import compress_response

    body = gzip.compress(b"x" * 5000)
    with app.test_request_context(headers={"Accept-Encoding": "gzip"}):
        response = app.response_class(body, headers={"Content-Encoding": "gzip"})
        assert compress_response(response).get_data() == body


def test_the_openapi_document_is_compressed(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "paths" in json.loads(gzip.decompress(response.data))
