"""Slow and stalled clients against a live server, for the e2e test and `make bench`."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import requests

# Half a header line, then nothing: what a slowloris client (or a tablet whose link died) leaves open.
STALLED_PREFIX = b"GET /healthz HTTP/1.1\r\nHost: fieldsync\r\nX-Waiting: "


def open_stalled_connections(url: str, count: int) -> list[socket.socket]:
    parts = urlsplit(url)
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        sock.sendall(STALLED_PREFIX)
        sockets.append(sock)
    return sockets


def healthz_latencies(url: str, count: int, *, timeout: float = 5.0) -> list[float | None]:
    """Seconds per `/healthz` on a new connection each; None for a request that got no 200 in time."""
    latencies: list[float | None] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            ok = requests.get(url + "/healthz", headers={"Connection": "close"}, timeout=timeout).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.perf_counter() - started if ok else None)
    return latencies


def p95(latencies: list[float | None], *, failed_as: float) -> float:
    values = sorted(failed_as if value is None else value for value in latencies)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
