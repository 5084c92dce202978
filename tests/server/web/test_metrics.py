"""GET /metrics (Prometheus text, parsed with prometheus_client's parser) and the JSON request log."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import QuarantinedMutation
from server.persistence.timeutil import utcnow
from tests.factories import (
    auth_headers,
    consultation_data,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
)


def scrape(client: Any) -> dict[str, list[Any]]:
    """Every sample by metric family name."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family.samples for family in text_string_to_metric_families(response.get_data(as_text=True))}


def sample(families: dict[str, list[Any]], family: str, name: str, **labels: str) -> float:
    return sum(s.value for s in families.get(family, []) if s.name == name
               and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_is_public_and_parses(client) -> None:
    families = scrape(client)
    assert {"fieldsync_http_request_duration_seconds", "fieldsync_http_requests",
            "fieldsync_push_mutations", "fieldsync_quarantine_open",
            "fieldsync_team_last_sync_age_seconds"} <= set(families)


def test_latency_is_by_route_not_path(client, session: Session) -> None:
    headers = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/v1/aggregates?indicator=health_consultations", headers=headers).status_code == 200
    assert client.get("/api/v1/aggregates?indicator=nope", headers=headers).status_code == 422
    assert client.get("/api/v1/aggregates").status_code == 401  # refused before the handler: still timed
    assert client.get("/no/such/path/123").status_code == 404
    after = scrape(client)
    route = {"route": "aggregates.get_aggregates", "method": "GET"}
    family = "fieldsync_http_request_duration_seconds"
    assert (sample(after, family, family + "_count", **route)
            - sample(before, family, family + "_count", **route)) == 5
    assert (sample(after, family, family + "_bucket", le="+Inf", **route)
            - sample(before, family, family + "_bucket", le="+Inf", **route)) == 5
    requests = "fieldsync_http_requests"
    for status, count in (("200", 3), ("422", 1), ("401", 1)):
        assert (sample(after, requests, requests + "_total", status=status, **route)
                - sample(before, requests, requests + "_total", status=status, **route)) == count
    assert sample(after, requests, requests + "_total", route="unmatched", status="404") >= 1
    labels = {s.labels.get("route") for s in after[family]}
    assert not any(label and "/" in label for label in labels), "routes are endpoint names, not paths"


def test_push_outcomes_are_counted_once(client, session: Session) -> None:
    device = make_device(session)
    applied = create_mutation(data=consultation_data())
    rejected = create_mutation(data=consultation_data(sex="q"))
    before = scrape(client)
    body = push_body([applied, rejected])
    response = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert [r["status"] for r in response.get_json()["results"]] == ["applied", "rejected"]
    replay = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert replay.headers["Idempotent-Replayed"] == "true"
    again = push_body([applied])  # the same op in a new batch: duplicate
    response = client.post("/api/v1/sync/push", json=again, headers=push_headers(device, again))
    assert [r["status"] for r in response.get_json()["results"]] == ["duplicate"]
    after = scrape(client)
    family = "fieldsync_push_mutations"
    deltas = {outcome: sample(after, family, family + "_total", outcome=outcome)
              - sample(before, family, family + "_total", outcome=outcome)
              for outcome in ("applied", "duplicate", "conflict", "rejected")}
    assert deltas == {"applied": 1, "duplicate": 1, "conflict": 0, "rejected": 1}

    families = scrape(client)
    open_items = session.execute(select(func.count()).select_from(QuarantinedMutation)
                                 .where(QuarantinedMutation.status == "open")).scalar_one()
    assert open_items >= 1
    assert sample(families, "fieldsync_quarantine_open", "fieldsync_quarantine_open") == open_items


def test_seconds_since_each_teams_last_sync(client, session: Session) -> None:
    tripoli = make_device(session, team_id="ly-mmt-tripoli").device
    tripoli.last_seen_at = utcnow() - timedelta(seconds=300)
    older = make_device(session, team_id="ly-mmt-tripoli").device
    older.last_seen_at = utcnow() - timedelta(days=3)
    sabha = make_device(session, team_id="ly-dcmt-sabha").device
    sabha.last_seen_at = utcnow() - timedelta(hours=2)
    make_device(session, team_id="ly-ras")  # never synced: no series
    session.flush()
    families = scrape(client)
    family = "fieldsync_team_last_sync_age_seconds"
    assert 300 <= sample(families, family, family, team="ly-mmt-tripoli", country="LY") < 330
    assert 7200 <= sample(families, family, family, team="ly-dcmt-sabha", country="LY") < 7230
    assert not [s for s in families[family] if s.labels["team"] == "ly-ras"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def request_log() -> Any:
    handler = Collect()
    logger = logging.getLogger("fieldsync.request")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_one_json_line_per_request_with_its_id(client, session: Session, request_log) -> None:
    token = make_token(session, make_user(session, role="coordinator", countries=("LY",)))
    response = client.get("/api/v1/aggregates?indicator=health_consultations&country=LY",
                          headers={**auth_headers(token), "X-Request-Id": "proxy-7f3a.1"})
    assert response.headers["X-Request-Id"] == "proxy-7f3a.1"
    (line,) = request_log.lines
    assert set(line) == {"ts", "level", "event", "request_id", "method", "route", "status", "duration_ms", "pid"}
    assert (line["request_id"], line["method"], line["route"], line["status"]) == (
        "proxy-7f3a.1", "GET", "aggregates.get_aggregates", 200)
    assert line["duration_ms"] >= 0
    assert token not in json.dumps(line) and "Bearer" not in json.dumps(line)


@pytest.mark.parametrize("supplied", ["", "has space", "x" * 65, "bad\u00e9", "-leading-dash", "a;b"])
def test_an_insane_request_id_is_replaced(client, request_log, supplied) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": supplied} if supplied else {})
    generated = response.headers["X-Request-Id"]
    assert generated != supplied and len(generated) == 32 and generated.isalnum()
    assert request_log.lines[-1]["request_id"] == generated


def test_refused_requests_are_logged_too(client, request_log) -> None:
    response = client.get("/api/v1/records", headers={"Authorization": "Bearer fsu_secret-token-value"})
    assert response.status_code == 401
    assert request_log.lines[-1]["status"] == 401 and request_log.lines[-1]["route"] == "records.get_records"
    assert "secret-token-value" not in json.dumps(request_log.lines)


def _series(client: Any) -> int:
    return sum(len(samples) for samples in scrape(client).values())


def test_series_count_does_not_grow_with_what_clients_invent(client) -> None:
    """Issue 29 item 4: each invented method added ~16 series; 2,300 requests grew the scrape 100-fold.

    One round of every kind first (standard methods on known and unknown paths, an invented method),
    so each bounded series exists; then 1,000 requests with new methods, paths and headers add none."""
    def send(i: int) -> None:
        method = "XAAA" + "".join(chr(ord("A") + (i // 26 ** k) % 26) for k in range(3))
        path = ("/healthz", f"/no/such/{i}", f"/api/v1/records/{i}", f"/openrosa/v1/key/k{i}/x{i}")[i % 4]
        headers = {f"X-Invented-{i}": str(i), "User-Agent": f"agent-{i}", "X-Request-Id": f"id-{i}"}
        client.open(path, method=method, headers=headers)

    for i in range(8):
        send(i)
        for method in ("GET", "POST", "DELETE"):
            client.open(("/healthz", f"/no/such/{i}")[i % 2], method=method)
    before = _series(client)
    for i in range(8, 1008):
        send(i)
    assert _series(client) == before
    families = scrape(client)
    methods = {s.labels.get("method") for s in families["fieldsync_http_request_duration_seconds"]}
    assert "other" in methods and not any(m and m.startswith("XAAA") for m in methods)
