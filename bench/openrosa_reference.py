"""The leanest durable OpenRosa ingest we could write, served the way Fieldsync is served, so that
`make bench` can judge Fieldsync's submission rate against what this machine, its HTTP stack and
its disk allow (as bench/push.py judges the push against a minimal `executemany`).

Per submission it does only what any server must: look the tablet's key up (one indexed SELECT),
read the multipart body (werkzeug), parse the instance with defusedxml, find its instanceID, and
store the submission row in `openrosa_submissions` in one durable transaction (INSERT, COMMIT),
answering 201 with an OpenRosaResponse. No validation, record, history, seq, rollup, request log,
metrics or hooks. The same gunicorn worker class, workers, threads and access log as `make run`
(bench/openrosa_reference_gunicorn.py); the same database settings (SQLite WAL with
synchronous=NORMAL; PostgreSQL as the cluster is configured), one connection per thread, kept.

    gunicorn --config bench/openrosa_reference_gunicorn.py 'bench.openrosa_reference:create_app()'
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg
from defusedxml import ElementTree
from flask import Flask, Response, request

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
            if self.sqlite:
                connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None,
                                             check_same_thread=False)
                # server/extensions.py's settings, so both pay the same durability.
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA busy_timeout=60000")
            else:
                connection = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self.local.connection = connection
        return connection

    def device_of(self, key: str) -> str | None:
        marker = "?" if self.sqlite else "%s"
        token_hash = hashlib.sha256(key.encode()).hexdigest()
        connection = self.connection()
        row = connection.execute(
            f"SELECT id FROM devices WHERE token_hash = {marker} AND status = 'active'", (token_hash,)).fetchone()
        if not self.sqlite:
            connection.rollback()
        return row[0] if row else None

    def store(self, instance_id: str, device_id: str, form_id: str, xml: bytes) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        row = (instance_id, device_id, form_id, hashlib.sha256(xml).hexdigest(), xml.decode(), "applied",
               201, now, now)
        columns = "instance_id, device_id, form_id, xml_sha256, xml, outcome, http_status, received_at, completed_at"
        connection = self.connection()
        if self.sqlite:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(f"INSERT INTO openrosa_submissions ({columns}) VALUES ({', '.join('?' * 9)})", row)
            connection.execute("COMMIT")
        else:
            connection.execute(f"INSERT INTO openrosa_submissions ({columns}) VALUES ({', '.join(['%s'] * 9)})", row)
            connection.commit()


def create_app() -> Flask:
    app = Flask(__name__)
    database = _Database(os.environ["DATABASE_URL"])

    @app.get("/readyz")
    def ready() -> tuple[str, int]:
        return "", 200

    @app.route("/openrosa/v1/key/<key>/submission", methods=["HEAD", "POST"])
    def submission(key: str) -> Response:
        device_id = database.device_of(key)
        if device_id is None:
            return Response("", 401)
        if request.method == "HEAD":
            return Response("", 204, headers=HEADERS)
        xml = request.files["xml_submission_file"].read()
        root = ElementTree.fromstring(xml)
        instance_id = next(e.text for e in root.iter() if e.tag.endswith("instanceID")).removeprefix("uuid:")
        database.store(instance_id, device_id, root.get("id", ""), xml)
        return Response(RESPONSE, 201, headers=HEADERS, content_type="text/xml; charset=utf-8")

    return app
