"""The cursor-signing key: stored with the data, shared by every app on the database, overridable."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import delete, select

from server.extensions import db
from server.models import InstanceSecret
from server.operations import signing
from sync.cursor import Cursor, decode_cursor, encode_cursor
from tests.conftest import build_app, migrate


def test_migration_stores_a_random_key_per_database(make_database_url, engine_name: str) -> None:
    keys = []
    for _ in range(2):
        url = make_database_url(engine_name)
        migrate(url)
        app = build_app(url, SECRET_KEY="")
        with app.app_context():
            keys.append(db.session.scalar(select(InstanceSecret.value).where(InstanceSecret.name == "cursor_signing")))
            db.session.remove()
            db.engine.dispose()
    assert all(key and len(key) == 64 for key in keys)
    assert keys[0] != keys[1]


def _key_in_fresh_process(app: Flask) -> bytes:
    signing._cache.clear()  # what a new worker process starts with
    with app.test_request_context():
        key = signing.cursor_key()
        db.session.remove()
        return key


def test_two_processes_on_one_database_share_the_key_and_secret_key_overrides_it(make_database_url,
                                                                                   engine_name: str) -> None:
    url = make_database_url(engine_name)
    migrate(url)
    first, second = build_app(url, SECRET_KEY=""), build_app(url, SECRET_KEY="")
    cursor = Cursor(stream="records", seq=42, scope="abc")
    token = encode_cursor(cursor, _key_in_fresh_process(first))
    assert decode_cursor(token, _key_in_fresh_process(second)) == cursor
    overridden = build_app(url, SECRET_KEY="operator-chosen")
    assert _key_in_fresh_process(overridden) == b"operator-chosen"
    for app in (first, second, overridden):
        with app.app_context():
            db.engine.dispose()


def test_a_deleted_key_row_is_made_again(app: Flask) -> None:
    db.session.execute(delete(InstanceSecret))
    made = signing.stored_key(db.session)
    assert made == signing.stored_key(db.session)
    assert len(made) == 64
