"""Stalled and slow clients cannot starve the default deployment (2 workers, gunicorn.conf.py)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import enrol_tablets
from tests.e2e.live_server import live_server, prepare_database
from tests.e2e.slow_clients import healthz_latencies, open_stalled_connections
from tests.factories import consultation_data

STALLED = 50


@pytest.fixture(scope="module")
def server_and_tablet(make_database_url):  # type: ignore[no-untyped-def]
    url = make_database_url("sqlite")
    prepare_database(url)
    (tablet,) = enrol_tablets(url, ["ly-mmt-tripoli"])
    with live_server(url, workers=2) as server:  # the `make run` defaults: 2 workers, 4 threads each
        yield server, tablet


def test_health_checks_answer_while_50_connections_stall_mid_header(server_and_tablet) -> None:  # type: ignore[no-untyped-def]
    server, _ = server_and_tablet
    stalled = open_stalled_connections(server.url, STALLED)
    try:
        latencies = healthz_latencies(server.url, 40)
    finally:
        for sock in stalled:
            sock.close()
    assert None not in latencies, f"{latencies.count(None)} of 40 health checks got no answer in 5 s"


def test_a_push_trickling_in_over_a_slow_link_is_served(server_and_tablet) -> None:  # type: ignore[no-untyped-def]
    """Collecting a request before a thread takes it must not break one that arrives in pieces."""
    server, tablet = server_and_tablet
    batch_id = str(uuid.uuid4())
    body = json.dumps({"batch_id": batch_id, "schema_version": 1, "app_version": "1.4.0",
                       "client_time": "2026-03-02T09:58:11Z",
                       "mutations": [{"op_id": str(uuid.uuid4()), "kind": "create", "entity": "consultation",
                                      "id": str(uuid.uuid4()), "data": consultation_data()}]}).encode()
    head = (f"POST /api/v1/sync/push HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer {tablet.token}\r\n"
            f"Idempotency-Key: {batch_id}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    request = head + body
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        for start in range(0, len(request), 64):
            sock.sendall(request[start:start + 64])
            time.sleep(0.01)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 200"), answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["results"][0]["status"] == "applied"
