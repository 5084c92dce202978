"""The leanest durable OpenRosa ingest we could write, served the way Fieldsync is served, so that
`make bench` can judge Fieldsync's submission rate against what this machine, its HTTP stack and
its disk allow (as bench/push.py judges the push against a minimal `executemany`).

Per submission it does only what any server must: look the tablet's key up (one indexed SELECT),
read the multipart body (werkzeug), parse the instance with defusedxml, find its instanceID, and
store the submission row in `openrosa_submissions` in one durable transaction (INSERT, COMMIT),
answering 201 with an OpenRosaResponse. No validation, record, history, seq, rollup, request log,
metrics or hooks. The same gunicorn worker class, workers, threads and access log as `make run`
(bench/openrosa_reference_gunicorn.py); the same database settings (SQLite WAL with
synchronous=FULL; PostgreSQL as the cluster is configured), one connection per thread, kept.

With `REFERENCE_ROWS=guarantees` it also writes, in the same transaction, the rows Fieldsync's
guarantees cannot do without: the instance read into record fields (Fieldsync's own
`parse_instance`) and validated with its marshmallow schema, a seq from the counter, the record,
its first revision and its op-memory row. Still no rollups, conflicts, quarantine, request log or
metrics: a floor for what a submission must cost, not a second implementation.

    gunicorn --config bench/openrosa_reference_gunicorn.py 'bench.openrosa_reference:create_app()'
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any

from defusedxml import ElementTree
from flask import Flask, Response, request

from bench.common import durable_connection
from schemas.records import validate_record
from server.integrations.openrosa.instance import parse_instance
from server.persistence.seq import COUNTER_NAME
from server.persistence.timeutil import utcnow

RESPONSE = ('<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
            '<message nature="submit_success">Form received.</message></OpenRosaResponse>')
HEADERS = {"X-OpenRosa-Version": "1.0", "X-OpenRosa-Accept-Content-Length": "10485760"}


class _Database:
    """One connection per thread, opened on first use and kept (as a pool would keep it)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.local = threading.local()

    def connection(self) -> Any:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = durable_connection(self.url)  # server/extensions.py's durability
            self.local.connection = connection
        return connection

    def _insert(self, table: str, row: dict[str, Any]) -> str:
        marker = "?" if self.sqlite else "%s"
        return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join([marker] * len(row))})"

    def device_of(self, key: str) -> tuple[str, str] | None:
        marker = "?" if self.sqlite else "%s"
        token_hash = hashlib.sha256(key.encode()).hexdigest()
        connection = self.connection()
        row = connection.execute(f"SELECT id, team_id FROM devices WHERE token_hash = {marker} AND status = 'active'",
                                 (token_hash,)).fetchone()
        if not self.sqlite:
            connection.rollback()
        return (row[0], row[1]) if row else None

    def store(self, instance_id: str, device: tuple[str, str], form_id: str, xml: bytes, with_record: bool) -> None:
        now = utcnow()
        submission = {"instance_id": instance_id, "device_id": device[0], "form_id": form_id,
                      "xml_sha256": hashlib.sha256(xml).hexdigest(), "xml": xml.decode(), "outcome": "applied",
                      "http_status": 201, "received_at": now, "completed_at": now}
        if with_record:
            instance = parse_instance(xml)
            data, errors = validate_record(instance.entity.value, {
                **instance.fields, "team_id": device[1], "recorded_at": instance.recorded_at}, now.date())
            if errors:
                raise ValueError(errors)
        connection = self.connection()
        if self.sqlite:
            connection.execute("BEGIN IMMEDIATE")
        if with_record:
            marker = "?" if self.sqlite else "%s"
            seq = connection.execute(f"UPDATE seq_counter SET value = value + 1 WHERE name = {marker} RETURNING value",
                                     (COUNTER_NAME,)).fetchone()[0]
            record = {"id": instance_id, "entity": instance.entity.value, "team_id": device[1],
                      "site_id": data["site_id"], "occurred_on": data["occurred_on"],
                      "recorded_at": data["recorded_at"], "population_group": data["population_group"],
                      "beneficiary_ref": data.get("beneficiary_ref"), "data": json.dumps(data), "version": 1,
                      "seq": seq, "status": "active", "clock_suspect": False, "device_id": device[0],
                      "received_at": now, "updated_at": now}
            revision = {"record_id": instance_id, "version": 1, "kind": "create", "changed": json.dumps(data),
                        "device_id": device[0], "op_id": instance_id, "created_at": now}
            op = {"op_id": instance_id, "batch_id": None, "device_id": device[0], "record_id": instance_id,
                  "outcome": json.dumps({"status": "applied", "version": 1}), "created_at": now}
            for table, row in (("records", record), ("record_revisions", revision), ("applied_ops", op)):
                connection.execute(self._insert(table, row), tuple(row.values()))
            submission.update(record_id=instance_id, version=1)
        connection.execute(self._insert("openrosa_submissions", submission), tuple(submission.values()))
        if self.sqlite:
            connection.execute("COMMIT")
        else:
            connection.commit()


def create_app() -> Flask:
    app = Flask(__name__)
    database = _Database(os.environ["DATABASE_URL"])
    with_record = os.environ.get("REFERENCE_ROWS") == "guarantees"

    @app.get("/readyz")
    def ready() -> tuple[str, int]:
        return "", 200

    @app.route("/openrosa/v1/key/<key>/submission", methods=["HEAD", "POST"])
    def submission(key: str) -> Response:
        device = database.device_of(key)
        if device is None:
            return Response("", 401)
        if request.method == "HEAD":
            return Response("", 204, headers=HEADERS)
        xml = request.files["xml_submission_file"].read()
        root = ElementTree.fromstring(xml)
        instance_id = next(e.text for e in root.iter() if e.tag.endswith("instanceID")).removeprefix("uuid:")
        database.store(instance_id, device, root.get("id", ""), xml, with_record)
        return Response(RESPONSE, 201, headers=HEADERS, content_type="text/xml; charset=utf-8")

    return app
