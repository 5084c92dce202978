"""/metrics under gunicorn with 2 workers: counts add up across workers (prometheus_client multiprocess mode).

Requests are sent concurrently on fresh connections until the JSON request log shows both workers
served some; then every scrape, whichever worker answers it, reports the total of all workers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import enrol_tablets
from tests.e2e.live_server import LiveServer, live_server, prepare_database
from tests.factories import consultation_data, create_mutation, push_body

ROUTE = {"route": "health.healthz", "method": "GET"}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, make_database_url) -> Iterator[tuple[LiveServer, str]]:  # type: ignore[no-untyped-def]
    url = make_database_url(request.param)
    prepare_database(url)
    with live_server(url, workers=2, threads=4) as live:
        yield live, url


def _samples(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(server.url + "/metrics", timeout=30, headers={"Connection": "close"})
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


def _log_lines(server: LiveServer) -> list[dict[str, object]]:
    lines = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith('{"ts"'):
            lines.append(json.loads(line))
    return lines


def test_counts_add_up_across_two_workers(server: tuple[LiveServer, str]) -> None:
    live, url = server
    assert len(live.worker_pids()) == 2

    def hit(n: int) -> str:
        response = requests.get(live.url + "/healthz", timeout=30,
                                headers={"Connection": "close", "X-Request-Id": f"hit-{n}"})
        assert response.status_code == 200
        return response.headers["X-Request-Id"]

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(10):  # until both workers answered some (the kernel picks the accepting worker)
            assert list(pool.map(hit, range(sent, sent + 40))) == [f"hit-{n}" for n in range(sent, sent + 40)]
            sent += 40
            pids = {line["pid"] for line in _log_lines(live) if str(line["request_id"]).startswith("hit-")}
            if len(pids) == 2:
                break
    served = [line for line in _log_lines(live) if str(line["request_id"]).startswith("hit-")]
    assert len(served) == sent and len({line["pid"] for line in served}) == 2, "both workers served requests"

    # Pushes on either worker, counted once each.
    (tablet,) = enrol_tablets(url, ["ly-mmt-tripoli"])
    pushed = 0
    for _ in range(4):
        body = push_body([create_mutation(data=consultation_data()) for _ in range(3)] +
                         [create_mutation(data=consultation_data(sex="q"))], batch_id=str(uuid.uuid4()))
        response = requests.post(live.url + "/api/v1/sync/push", json=body, timeout=60,
                                 headers={**tablet.headers, "Idempotency-Key": body["batch_id"], "Connection": "close"})
        assert response.status_code == 200, response.text
        pushed += 1

    for _ in range(6):  # each scrape may be answered by either worker: all agree on the totals
        samples = _samples(live)
        assert _value(samples, "fieldsync_http_request_duration_seconds_count", **ROUTE) == sent
        assert _value(samples, "fieldsync_http_requests_total", status="200", **ROUTE) == sent
        assert _value(samples, "fieldsync_push_mutations_total", outcome="applied") == 3 * pushed
        assert _value(samples, "fieldsync_push_mutations_total", outcome="rejected") == pushed
        assert _value(samples, "fieldsync_quarantine_open") == pushed  # every reason
        assert any(name == "fieldsync_team_last_sync_age_seconds" and ("team", "ly-mmt-tripoli") in labels
                   for name, labels in samples)
    scrapers = {line["pid"] for line in _log_lines(live) if line["route"] == "metrics.get_metrics"}
    assert scrapers <= set(live.worker_pids())
