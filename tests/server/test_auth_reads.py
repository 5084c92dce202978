"""Authentication reads beside a writer: it never queues behind another transaction's writes.

On SQLite every write transaction holds the database's one write lock from its first statement
(`BEGIN IMMEDIATE`). Authentication only reads, in a transaction of its own that takes no lock, so
a tablet's `HEAD submission` (or any request's token check) is answered while another request
writes, and a busy server's submissions each queue for the lock once, for their writes.
"""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import text, update

from server.extensions import db
from server.models import Device
from server.timeutil import utcnow
from tests.factories import auth_headers, make_device, make_token, make_user

PATIENCE = 20.0  # seconds; SQLite's busy timeout (60 s) is what a queued lookup would wait


def test_a_token_is_checked_while_another_transaction_holds_the_write_lock(committed_app: Flask) -> None:
    with committed_app.app_context():
        active = make_device(db.session)
        revoked = make_device(db.session, revoked=True)
        field_worker = auth_headers(make_token(db.session, make_user(db.session, role="field_worker")))
        # Seen just now: authentication has nothing to write (last_seen_at is touched once a minute).
        db.session.execute(update(Device).values(last_seen_at=utcnow()))
        db.session.commit()
        db.session.remove()
        writer = db.engine.connect()
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

    try:
        # Another request in the middle of its writes: on SQLite this holds the write lock.
        writer.execute(text("UPDATE seq_counter SET value = value"))
        asking = threading.Thread(target=ask)
        asking.start()
        asking.join(PATIENCE)
        assert not asking.is_alive(), "authentication waited for another transaction's writes"
    finally:
        writer.rollback()
        writer.close()
        asking.join()
    assert answers == {"active tablet": 204, "revoked tablet": 403, "logout without a token": 401,
                       "unknown token": 401, "field worker on a coordinator's route": 403}
