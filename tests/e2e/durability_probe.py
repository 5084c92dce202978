"""`make run`'s app, plus a record of the durability settings in force on every database connection it
opens (tests/e2e/test_durability.py): `PRAGMA synchronous` and `journal_mode`, one line per connection
and process, appended to the file FIELDSYNC_PRAGMA_LOG names. Read after the app's own connect hook."""

from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import event

from server import create_app as fieldsync_app
from server.extensions import db


def create_app() -> Flask:
    app = fieldsync_app()
    path = os.environ["FIELDSYNC_PRAGMA_LOG"]
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name != "sqlite":
                continue

            @event.listens_for(engine, "connect")
            def _record(dbapi_connection, _record):  # type: ignore[no-untyped-def]
                cursor = dbapi_connection.cursor()
                synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
                journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                cursor.close()
                with open(path, "a", encoding="utf-8") as log:
                    log.write(f"{os.getpid()} {synchronous} {journal}\n")
    return app
