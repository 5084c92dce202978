"""Reads that may lag go to a PostgreSQL streaming replica when `DATABASE_READ_URL` is set.

Aggregates and the public pages only read, and a figure a few seconds old is as good to a coordinator
or a website as a fresh one; they are most of the read load. Everything that must read its own
writes stays on the primary: sync (push, pull and its cursors, which must never see a replica that
is behind the cursor it issued), accounts, resolution, and the public page's `as_of` bookkeeping.

Without `DATABASE_READ_URL`, `read_session()` is the request's ordinary session, so the code paths
are the same and the tests' rolled-back transaction sees everything.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_sqlalchemy.session import _app_ctx_id  # the scope Flask-SQLAlchemy's own session uses
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from server.extensions import db

READ_BIND = "read"
_EXTENSION = "fieldsync_read_session"


def init_app(app: Flask) -> None:
    if READ_BIND not in (app.config.get("SQLALCHEMY_BINDS") or {}):
        return
    with app.app_context():
        engine = db.engines[READ_BIND]
    factory = scoped_session(sessionmaker(bind=engine), scopefunc=_app_ctx_id)
    app.extensions[_EXTENSION] = factory

    @app.teardown_appcontext
    def _close_read_session(_exc: BaseException | None) -> None:
        factory.remove()  # ends the read-only transaction: the next request sees the replica anew


def read_session() -> Session:
    """The session for reads that may lag behind the primary (see the module's docstring)."""
    factory = current_app.extensions.get(_EXTENSION)
    return factory() if factory is not None else db.session()
