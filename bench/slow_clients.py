"""Stalled clients: `/healthz` p95 while 50 connections each hold half a header line open.

Measured for the deployed worker (gunicorn.conf.py: server.web.serving.BufferingThreadWorker) and for
plain gthread (what `make run` used before), in the same run, with the same workers and threads.
A health check that gets no answer in 5 s counts as 5 s.
"""

from __future__ import annotations

from bench.common import Engine, Results
from tests.e2e.live_server import live_server, prepare_database
from tests.e2e.slow_clients import healthz_latencies, open_stalled_connections, p95

STALLED = 50
CHECKS = 40
TIMEOUT = 5.0
WORKER_CLASSES = {"buffering (deployed)": None, "plain gthread": "gthread"}


def run(eng: Engine, results: Results, *, workers: int) -> None:
    url = eng.new_database("slow")
    prepare_database(url)
    for label, worker_class in WORKER_CLASSES.items():
        env = {"GUNICORN_CMD_ARGS": f"--worker-class {worker_class}"} if worker_class else {}
        with live_server(url, workers=workers, env=env) as server:
            baseline = healthz_latencies(server.url, CHECKS, timeout=TIMEOUT)
            stalled = open_stalled_connections(server.url, STALLED)
            try:
                latencies = healthz_latencies(server.url, CHECKS, timeout=TIMEOUT)
            finally:
                for sock in stalled:
                    sock.close()
        failed = latencies.count(None)
        results.add(eng.name, f"/healthz p95, {STALLED} stalled connections, {label}",
                    f"{p95(latencies, failed_as=TIMEOUT) * 1000:.0f} ms",
                    f"{failed}/{CHECKS} unanswered in {TIMEOUT:.0f} s; idle p95 "
                    f"{p95(baseline, failed_as=TIMEOUT) * 1000:.0f} ms; {workers} workers")
