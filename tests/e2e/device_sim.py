"""A simulated tablet: a real HTTP client with a local outbox, as the field app behaves.

Records are created, corrected and voided offline into an outbox; `sync()` cuts the outbox into
batches and pushes each with `Idempotency-Key` = `batch_id` until the server answers 200. A batch,
once cut, is frozen (same id, same body) until acknowledged, exactly as a tablet must persist it
before the first send: that is what lets the server recognise a re-send after a lost answer.

Faults a tablet on a bad link meets, injected on purpose (with a seeded random generator):
- **abandoned after sending**: the whole request is written to a raw socket, which is then closed
  without reading the answer (the network dropped, the app was killed). The server usually commits
  anyway; the re-send must then be answered from the stored response (`Idempotent-Replayed`).
- **timed out**: a read timeout far shorter than the push takes, so the client gives up while the
  server is still working, then re-sends.
- **server gone**: connection refused or reset (a crash, a restart): retried until `deadline`.

Every answer is tallied in `stats`; any 5xx other than a 503 carrying `Retry-After` is recorded in
`server_errors` with its body, for the test to fail on. `expected` is what the server must hold for
every record this tablet made once everything is acknowledged.
"""

from __future__ import annotations

import copy
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, func, select

from server.models import AppliedOp, Record
from server.persistence.migrations_state import PROJECT_ROOT
from server.persistence.timeutil import isoformat_z, utcnow
from tests.factories import consultation_data, distribution_data, outreach_data

PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"
# Tablets honour Retry-After; the simulation caps the wait so a test stays short.
MAX_BACKOFF = 0.5
ENTITY_DATA = {"consultation": consultation_data, "distribution": distribution_data, "outreach": outreach_data}
SERVICES = ["general", "mhpss", "srh"]


def correction(entity: str, current: dict[str, Any], n: int) -> dict[str, Any]:
    """Fields to correct, each to a value other than its current one: a correction that changes
    nothing is applied without a new version, which would make the expected version wrong."""
    if entity == "consultation":
        others = [service for service in SERVICES if service != current.get("service")]
        return {"service": others[n % len(others)], "referral": not current.get("referral", False)}
    if entity == "distribution":
        return {"quantity": int(current.get("quantity", 1)) % 100 + 1 + n % 7}
    return {"topic": f"session {n}"}


@dataclass
class Expected:
    """What the server must hold for one record once the outbox is drained."""

    entity: str
    version: int = 1
    status: str = "active"
    data: dict[str, Any] = field(default_factory=dict)  # the values the server must hold
    fields: set[str] = field(default_factory=set)  # the corrected ones, checked in the stored `data`


@dataclass
class Faults:
    abandon_after_send: float = 0.0  # probability per push request
    short_timeout: float = 0.0  # probability per push request
    short_timeout_seconds: float = 0.02


class ServerUnreachable(Exception):
    """The server did not answer until the deadline (it is down): the batch stays pending."""


class DeviceSim:
    def __init__(self, base_url: str, token: str, team_id: str, site_id: str, *, seed: int,
                 faults: Faults | None = None, batch_size: int = 20, label: str = "") -> None:
        self.base_url = base_url
        self.token = token
        self.team_id = team_id
        self.site_id = site_id
        self.label = label or token[-6:]
        self.faults = faults or Faults()
        self.batch_size = batch_size
        self.random = random.Random(seed)
        self.http = requests.Session()
        self.outbox: list[dict[str, Any]] = []
        self.pending: dict[str, Any] | None = None  # the cut batch being sent, frozen until acknowledged
        self.sent_batches: list[dict[str, Any]] = []  # every batch acknowledged, in order
        self.expected: dict[str, Expected] = {}
        self.stats: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.cursor = ""
        self.pulled: dict[str, dict[str, Any]] = {}  # latest change per record id from the records stream
        self._corrections = 0
        # Set by a test that has killed the server: the next failed request gives up at once.
        self.offline = False

    # --- offline work ------------------------------------------------------------------------------
    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def create(self, entity: str | None = None) -> str:
        entity = entity or self.random.choice(sorted(ENTITY_DATA))
        record_id = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
        data = ENTITY_DATA[entity](team_id=self.team_id, site_id=self.site_id)
        self._enqueue({"kind": "create", "entity": entity, "id": record_id, "data": data})
        self.expected[record_id] = Expected(entity, data=dict(data))
        return record_id

    def correct(self, record_id: str) -> None:
        record = self.expected[record_id]
        assert record.status == "active", "a tablet does not correct a voided record"
        self._corrections += 1
        fields = correction(record.entity, record.data, self._corrections)
        self._enqueue({"kind": "correct", "entity": record.entity, "id": record_id, "base_version": record.version,
                       "data": fields, "reason": "typo"})
        record.version += 1
        record.data.update(fields)
        record.fields.update(fields)

    def void(self, record_id: str) -> None:
        record = self.expected[record_id]
        self._enqueue({"kind": "void", "entity": record.entity, "id": record_id, "base_version": record.version,
                       "reason": "entered twice"})
        record.version += 1
        record.status = "voided"

    def active_records(self) -> list[str]:
        return [record_id for record_id, record in self.expected.items() if record.status == "active"]

    def _enqueue(self, mutation: dict[str, Any]) -> None:
        self.outbox.append({"op_id": str(uuid.UUID(int=self.random.getrandbits(128), version=4)), **mutation})

    # --- push --------------------------------------------------------------------------------------
    def sync(self, *, deadline: float = 60.0) -> None:
        """Push the outbox, batch by batch, until it is empty; ServerUnreachable after `deadline`."""
        give_up = time.monotonic() + deadline
        while self.pending is not None or self.outbox:
            if self.pending is None:
                mutations, self.outbox = self.outbox[: self.batch_size], self.outbox[self.batch_size :]
                self.pending = {"batch_id": str(uuid.UUID(int=self.random.getrandbits(128), version=4)),
                                "schema_version": 1, "app_version": "1.4.0", "client_time": isoformat_z(utcnow()),
                                "mutations": mutations}
            answer = self._push_until_answered(self.pending, give_up)
            self._acknowledge(self.pending, answer)
            self.sent_batches.append(self.pending)
            self.pending = None

    def _push_until_answered(self, batch: dict[str, Any], give_up: float) -> dict[str, Any]:
        body = json.dumps(batch).encode()
        headers = {**self.headers, "Idempotency-Key": batch["batch_id"], "Content-Type": "application/json"}
        first = True
        while True:
            if time.monotonic() > give_up or (self.offline and not first):
                raise ServerUnreachable(f"{self.label}: batch {batch['batch_id']} unanswered")
            self.stats["push_requests"] += 1
            roll = self.random.random()
            if roll < self.faults.abandon_after_send:
                self.stats["abandoned_after_send"] += 1
                self._send_and_hang_up(body, headers)
                first = False
                continue
            timeout: float = 30.0
            if roll < self.faults.abandon_after_send + self.faults.short_timeout:
                timeout = self.faults.short_timeout_seconds
            try:
                response = self.http.post(self.base_url + PUSH, data=body, headers=headers, timeout=(2.0, timeout))
            except requests.Timeout:
                self.stats["timed_out"] += 1
                first = False
                continue
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                # ChunkedEncodingError: the server died after the status line, mid-body. The answer is
                # lost as surely as with no connection; the tablet sends the batch again.
                self.stats["connection_failed"] += 1
                first = False
                time.sleep(0.1)
                continue
            self.stats[f"status_{response.status_code}"] += 1
            if response.status_code == 200:
                if response.headers.get("Idempotent-Replayed") == "true":
                    # A re-send answered from the stored response: an earlier attempt committed.
                    self.stats["replayed" if not first else "replayed_first_send"] += 1
                return response.json()
            self._check_error(response)
            if response.status_code in (409, 503):
                self._back_off(response)
                first = False
                continue
            raise AssertionError(f"{self.label}: push answered {response.status_code}: {response.text[:300]}")

    def _send_and_hang_up(self, body: bytes, headers: dict[str, str]) -> None:
        """Write the whole request, then close the socket without reading a byte of the answer."""
        target = urlsplit(self.base_url)
        lines = [f"POST {PUSH} HTTP/1.1", f"Host: {target.netloc}", f"Content-Length: {len(body)}",
                 "Connection: close", *(f"{name}: {value}" for name, value in headers.items())]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        try:
            with socket.create_connection((target.hostname, target.port), timeout=2.0) as connection:
                connection.sendall(request)
        except OSError:
            self.stats["connection_failed"] += 1
            time.sleep(0.1)
            return
        # Re-send soon, but not always at once: sometimes the original is still running.
        time.sleep(self.random.uniform(0.0, 0.05))

    def _back_off(self, response: requests.Response) -> None:
        retry_after = float(response.headers.get("Retry-After", "0.1"))
        time.sleep(min(retry_after, MAX_BACKOFF) * self.random.uniform(0.5, 1.0))

    def _check_error(self, response: requests.Response) -> None:
        if response.status_code >= 500 and not (response.status_code == 503 and "Retry-After" in response.headers):
            self.server_errors.append(f"{response.status_code} {response.text[:300]}")
            raise AssertionError(f"{self.label}: server error {response.status_code}: {response.text[:300]}")
        if "locked" in response.text.lower():
            self.server_errors.append(f"{response.status_code} {response.text[:300]}")
            raise AssertionError(f"{self.label}: the database lock surfaced: {response.text[:300]}")

    def _acknowledge(self, batch: dict[str, Any], answer: dict[str, Any]) -> None:
        assert answer["batch_id"] == batch["batch_id"]
        results = answer["results"]
        assert [r["op_id"] for r in results] == [m["op_id"] for m in batch["mutations"]]
        for mutation, result in zip(batch["mutations"], results, strict=True):
            # One tablet owns its records and sends its ops once each: anything but applied is a bug.
            assert result["status"] == "applied", f"{self.label}: {mutation['kind']} -> {result}"
            self.stats[f"applied_{mutation['kind']}"] += 1

    # --- pull --------------------------------------------------------------------------------------
    def pull(self, *, limit: int = 200) -> int:
        """Page the records stream from the saved cursor to the end; returns the changes received."""
        received = 0
        while True:
            self.stats["pull_requests"] += 1
            response = self.http.get(self.base_url + PULL, params={"stream": "records", "cursor": self.cursor,
                                                                   "limit": limit},
                                     headers=self.headers, timeout=30)
            self.stats[f"status_{response.status_code}"] += 1
            self._check_error(response)
            assert response.status_code == 200, response.text[:300]
            page = response.json()
            for change in page["changes"]:
                self.pulled[change["id"]] = copy.deepcopy(change)
            received += len(page["changes"])
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return received

    def close(self) -> None:
        self.http.close()


def total_stats(devices: list[DeviceSim]) -> Counter[str]:
    total: Counter[str] = Counter()
    for device in devices:
        total.update(device.stats)
    return total


# --- checks shared by the fault tests ----------------------------------------------------------------

def rollups_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    """`flask --app server rollups verify` as an operator runs it: a real process on DATABASE_URL."""
    environment = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "e2e"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "server", "rollups", "verify"],
                          cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120)


def check_server_holds(database_url: str, devices: list[DeviceSim]) -> int:
    """Every record the devices made exists exactly once, at the expected version, status and values;
    no other record exists. Returns the number of records checked."""
    expected = {record_id: record for device in devices for record_id, record in device.expected.items()}
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Record.id, Record.entity, Record.version, Record.status,
                                             Record.data)).all()
            ops = connection.scalar(select(func.count()).select_from(AppliedOp))
    finally:
        engine.dispose()
    ids = [row.id for row in rows]
    assert len(ids) == len(set(ids))
    missing, extra = set(expected) - set(ids), set(ids) - set(expected)
    assert not missing, f"{len(missing)} record(s) lost"
    assert not extra, f"{len(extra)} record(s) nobody made"
    for row in rows:
        want = expected[row.id]
        got = (row.entity, row.version, row.status)
        assert got == (want.entity, want.version, want.status), f"{row.id}: {got} {row.data} != {want}"
        for name in want.fields:
            assert row.data[name] == want.data[name], (row.id, name)
    sent_ops = sum(len(batch["mutations"]) for device in devices for batch in device.sent_batches)
    assert ops == sent_ops, "every op is remembered exactly once"
    return len(rows)


def check_pulled(devices: list[DeviceSim]) -> None:
    """After a final pull, every tablet holds each of its team's records once, at its latest version."""
    by_team: dict[str, dict[str, Expected]] = {}
    for device in devices:
        by_team.setdefault(device.team_id, {}).update(device.expected)
    for device in devices:
        team = by_team[device.team_id]
        assert set(device.pulled) == set(team), f"{device.label}: pulled records differ"
        for record_id, change in device.pulled.items():
            assert change["op"] == "upsert"
            assert change["version"] == team[record_id].version, record_id
            assert change["data"]["status"] == team[record_id].status, record_id


def secrets_in_log(log_path: Path, secrets: dict[str, str]) -> list[str]:
    text = log_path.read_text(errors="replace")
    return [name for name, secret in secrets.items() if secret in text]
