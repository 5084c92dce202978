"""Reads beside a writer, and no lock held while a client is slow: on SQLite every write transaction
holds the database's one write lock from its first statement (`BEGIN IMMEDIATE`), so anything that
only reads must read in a transaction that takes no lock (`server.web.transactions.reading_only`,
`reads_only`), and nothing may keep a transaction open while it waits for a client.

Covered: authentication, a tablet's pull, a coordinator's aggregates, the dashboard's lists, Collect's
form downloads, the sync hello, the metrics scrape and the public page are answered while another
connection holds the write lock; a line list read slowly and a push body arriving slowly never hold
other tablets' writes up.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from server.extensions import db
from server.models import Device
from server.operations import public
from server.persistence.timeutil import utcnow
from server.web.auth import hash_secret
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    create_mutation,
    make_device,
    make_token,
    make_user,
    push_body,
    push_headers,
)

PATIENCE = 20.0  # seconds; SQLite's busy timeout (60 s) is what a queued lookup would wait


def _while_another_transaction_writes(app: Flask, ask: Callable[[], None]) -> None:
    """Run `ask` (in a thread) while another connection is in the middle of its writes: on SQLite
    that connection holds the write lock. Fails if `ask` is still waiting after PATIENCE seconds."""
    with app.app_context():
        writer = db.engine.connect()
    asking = threading.Thread(target=ask)
    try:
        writer.execute(text("UPDATE seq_counter SET value = value"))
        asking.start()
        asking.join(PATIENCE)
        assert not asking.is_alive(), "the request waited for another transaction's writes"
    finally:
        writer.rollback()
        writer.close()
        if asking.ident is not None:  # started
            asking.join()


def test_a_token_is_checked_while_another_transaction_holds_the_write_lock(committed_app: Flask) -> None:
    with committed_app.app_context():
        active = make_device(db.session)
        revoked = make_device(db.session, revoked=True)
        field_worker = auth_headers(make_token(db.session, make_user(db.session, role="field_worker")))
        # Seen just now: authentication has nothing to write (last_seen_at is touched once a minute).
        db.session.execute(update(Device).values(last_seen_at=utcnow()))
        db.session.commit()
        db.session.remove()
    answers: dict[str, int] = {}

    def ask() -> None:
        client = committed_app.test_client()
        answers["active tablet"] = client.head(f"/openrosa/v1/key/{active.token}/submission").status_code
        answers["revoked tablet"] = client.head(f"/openrosa/v1/key/{revoked.token}/submission").status_code
        answers["logout without a token"] = client.post("/api/v1/auth/logout").status_code
        answers["unknown token"] = client.post("/api/v1/auth/logout",
                                               headers={"Authorization": "Bearer fsu_unknown"}).status_code
        # A valid user token, read and judged (a coordinator's route) without the handler running.
        answers["field worker on a coordinator's route"] = client.get("/api/v1/teams", headers=field_worker).status_code

    _while_another_transaction_writes(committed_app, ask)
    assert answers == {"active tablet": 204, "revoked tablet": 403, "logout without a token": 401,
                       "unknown token": 401, "field worker on a coordinator's route": 403}


def test_a_tablet_pulls_while_another_transaction_holds_the_write_lock(committed_app: Flask) -> None:
    with committed_app.app_context():
        tablet = make_device(db.session)
        db.session.commit()
        db.session.remove()
    client = committed_app.test_client()
    body = _push_new_records(client, tablet, 2)
    pages: list[dict] = []

    def ask() -> None:  # the push just touched last_seen_at: this request writes nothing
        pages.append(client.get("/api/v1/sync/pull?stream=records&limit=1", headers=tablet.headers).get_json())
        cursor = pages[0]["next_cursor"]
        pages.append(client.get(f"/api/v1/sync/pull?stream=records&limit=1&cursor={cursor}",
                                headers=tablet.headers).get_json())

    _while_another_transaction_writes(committed_app, ask)
    assert sorted(change["id"] for page in pages for change in page["changes"]) == sorted(
        item["id"] for item in body["mutations"])
    assert [page["has_more"] for page in pages] == [True, False]


def _tablet_and_coordinator(app: Flask) -> tuple[EnrolledDevice, dict[str, str]]:
    """A committed tablet of the demo team, and a coordinator's request headers."""
    with app.app_context():
        tablet = make_device(db.session)
        coordinator = auth_headers(make_token(db.session, make_user(db.session, role="coordinator")))
        db.session.commit()
        db.session.remove()
    return tablet, coordinator


def _push_new_records(client: FlaskClient, tablet: EnrolledDevice, count: int) -> dict[str, Any]:
    """Push `count` new consultations as `tablet`; the body pushed (all applied)."""
    body = push_body([create_mutation() for _ in range(count)])
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(tablet, body)).status_code == 200
    return body


def test_a_coordinator_queries_aggregates_while_another_transaction_holds_the_write_lock(committed_app: Flask) -> None:
    tablet, coordinator = _tablet_and_coordinator(committed_app)
    client = committed_app.test_client()
    _push_new_records(client, tablet, 3)
    answers: list[tuple[int, object]] = []

    def ask() -> None:
        for query in ("indicator=health_consultations", "indicator=health_consultations&format=csv"):
            response = client.get(f"/api/v1/aggregates?{query}", headers=coordinator)
            answers.append((response.status_code, response.get_json()["total"] if response.is_json
                            else response.get_data(as_text=True).splitlines()[-1]))

    _while_another_transaction_writes(committed_app, ask)
    assert answers == [(200, 3), (200, "3")]


def _a_write_commits(app: Flask) -> bool:
    """Whether another connection can write and commit within PATIENCE seconds."""
    done = threading.Event()

    def write() -> None:
        with app.app_context(), db.engine.connect() as writer:
            writer.execute(text("UPDATE seq_counter SET value = value"))
            writer.commit()
        done.set()

    writing = threading.Thread(target=write)
    writing.start()
    committed = done.wait(PATIENCE)
    return committed


def test_a_line_list_read_slowly_never_holds_the_tablets_writes_up(committed_app: Flask) -> None:
    """A coordinator downloads a large line list over a slow link: while the server waits to send
    the next part, tablets must still be able to write (on SQLite the stream used to keep the write
    lock until its last byte, and a push waited out the busy timeout, then failed)."""
    tablet, coordinator = _tablet_and_coordinator(committed_app)
    client = committed_app.test_client()
    pushed: list[str] = []
    for _ in range(3):
        pushed += [item["id"] for item in _push_new_records(client, tablet, 400)["mutations"]]
    for output in ("jsonl", "csv"):
        response = client.get(f"/api/v1/records?format={output}", headers=coordinator, buffered=False)
        try:
            assert response.status_code == 200
            parts = iter(response.response)
            first = next(parts)  # the client reads one part, then stalls
            assert _a_write_commits(committed_app), f"a write waited for the {output} line list's reader"
            text_ = (first + b"".join(parts)).decode("utf-8")
        finally:
            response.close()
        lines = [line for line in text_.splitlines() if line]
        if output == "jsonl":
            assert sorted(json.loads(line)["id"] for line in lines) == sorted(pushed)
        else:
            assert len(lines) == 1 + len(pushed)


class _TrickledBody(io.RawIOBase):
    """A request body whose bytes arrive only when the test lets them (a tablet on a slow link)."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.reading = threading.Event()
        self.arrives = threading.Event()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client rewinds the body before the request
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.data.seek(offset, whence)

    def tell(self) -> int:
        return self.data.tell()

    def readinto(self, buffer: Any) -> int:
        self.reading.set()
        self.arrives.wait(PATIENCE)
        return self.data.readinto(buffer)


def test_a_push_body_trickling_in_never_holds_other_tablets_writes_up(committed_app: Flask) -> None:
    """A tablet whose last_seen_at is due (touched once a minute, by authentication) sends its batch
    over a slow link: while its body arrives, other tablets must be able to write (on SQLite the touch
    held the write lock until the request ended, so every other push waited for the slow upload)."""
    tablet, _ = _tablet_and_coordinator(committed_app)  # never seen: authentication touches it
    body = push_body([create_mutation(), create_mutation()])
    data = json.dumps(body).encode()
    trickled = _TrickledBody(data)
    answers: list[int] = []

    headers = {**push_headers(tablet, body), "Content-Type": "application/json", "Content-Length": str(len(data))}

    def push() -> None:
        response = committed_app.test_client().post("/api/v1/sync/push", input_stream=trickled, headers=headers)
        answers.append(response.status_code)

    pushing = threading.Thread(target=push)
    pushing.start()
    try:
        assert trickled.reading.wait(PATIENCE), "the server never read the body"
        assert _a_write_commits(committed_app), "a write waited while a tablet's body arrived"
    finally:
        trickled.arrives.set()
        pushing.join()
    assert answers == [200]
    with committed_app.app_context():
        seen = db.session.execute(select(Device.last_seen_at).where(Device.token_hash == hash_secret(tablet.token)))
        assert seen.scalar_one() is not None


def test_the_public_page_is_answered_while_another_transaction_holds_the_write_lock(committed_app: Flask) -> None:
    """The website pulls a country's totals while tablets push: a page whose content is already
    published is read beside the writer, cached or computed again, in either language (before, each
    request took a turn at SQLite's write lock behind the push batches: p95 0.9-1.2 s)."""
    tablet, _ = _tablet_and_coordinator(committed_app)
    client = committed_app.test_client()
    body = _push_new_records(client, tablet, 3)
    year = body["mutations"][0]["data"]["occurred_on"][:4]
    url = f"/public/v1/countries/LY/impact?year={year}"
    published = client.get(url).get_json()  # publishes this content: its as_of is stored
    answers: list[tuple[int, object]] = []

    def ask() -> None:
        for clear_cache in (False, True, True):
            if clear_cache:
                public.CACHE.clear()  # computed again, as in another worker
            response = client.get(url if len(answers) < 2 else url + "&lang=ar")
            answers.append((response.status_code, response.get_json()["as_of"]))

    _while_another_transaction_writes(committed_app, ask)
    assert answers == [(200, published["as_of"])] * 3


def test_coordinators_lists_and_tablets_form_downloads_are_answered_while_another_transaction_writes(
        committed_app: Flask) -> None:
    """The dashboard's lists, a Collect tablet's form downloads, the sync hello and the metrics scrape
    only read (`reads_only`): on SQLite
    they are served from a snapshot while a push batch holds the write lock, instead of queueing behind
    it. Also the guard that keeps them read-only: a view that wrote would wait here, and fail the test."""
    tablet, coordinator = _tablet_and_coordinator(committed_app)
    client = committed_app.test_client()
    body = _push_new_records(client, tablet, 2)
    record_id = body["mutations"][0]["id"]
    key = f"/openrosa/v1/key/{tablet.token}"
    coordinator_urls = ["/api/v1/teams", "/api/v1/devices", "/api/v1/countries", "/api/v1/areas", "/api/v1/sites",
                        "/api/v1/items", "/api/v1/services", "/api/v1/users", "/api/v1/audit", "/api/v1/conflicts",
                        "/api/v1/quarantine", f"/api/v1/records/{record_id}/history"]
    tablet_urls = [f"{key}/formList", f"{key}/forms/fieldsync_consultation.xml",
                   f"{key}/forms/fieldsync_consultation/manifest"]
    other_urls = {"/api/v1/sync/hello": tablet.headers, "/metrics": {}}
    answers: dict[str, tuple[int, int]] = {}

    def ask() -> None:
        for url in coordinator_urls:
            response = client.get(url, headers=coordinator)
            answers[url] = (response.status_code, len(response.get_data()))
        for url in tablet_urls:
            response = client.get(url, headers={"X-OpenRosa-Version": "1.0"})
            answers[url] = (response.status_code, len(response.get_data()))
        for url, headers in other_urls.items():
            response = client.get(url, headers=headers)
            answers[url] = (response.status_code, len(response.get_data()))
        manifest = client.get(tablet_urls[2], headers={"X-OpenRosa-Version": "1.0"}).get_data(as_text=True)
        media = manifest.split("<downloadUrl>", 1)[1].split("</downloadUrl>", 1)[0].split("/openrosa/", 1)[1]
        response = client.get(f"/openrosa/{media}", headers={"X-OpenRosa-Version": "1.0"})
        answers["media"] = (response.status_code, len(response.get_data()))

    _while_another_transaction_writes(committed_app, ask)
    assert {url: status for url, (status, _) in answers.items()} == {url: 200 for url in answers}
    assert all(size > 20 for _, size in answers.values()), answers
    assert len(answers) == len(coordinator_urls) + len(tablet_urls) + len(other_urls) + 1
