"""One commit per request, in one place; and reads that hold no lock.

Business operations only add and flush; this hook commits when the request succeeded and rolls
back when it failed. A handler whose error must still keep what it wrote (a revoked device's
mutations go to quarantine before the 403) sets `g.commit_on_error = True`. One write is committed
earlier, on its own: authentication's once-a-minute `last_seen_at` touch (server/web/auth.py), so that
no transaction is open while the request's body arrives.

`reading_only` (a block) and `reads_only` (a view) read in a transaction of their own that takes no
lock on SQLite, so reads are served beside the one writer instead of queueing for its lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from flask import Flask, g
from flask.wrappers import Response
from sqlalchemy.orm import Session, scoped_session

from server.extensions import db, read_only_transaction

View = TypeVar("View", bound=Callable[..., Any])


@contextmanager
def reading_only(session: Session | scoped_session[Session]) -> Iterator[None]:
    """A read that ends before the request writes anything: its own transaction, rolled back at the
    end of the block (so nothing done in it can persist).

    On SQLite every other transaction starts with `BEGIN IMMEDIATE` and so holds the one write lock
    from its first statement; this one is deferred and takes none. Authentication reads its token
    here: a tablet's submission then queues for the lock once, for its writes, instead of also for
    the lookup of its key (measured: 0.7 ms of lock per request, and a second wait behind the
    writers). A pull and an aggregate query read here too, so they are served from a snapshot while
    a push batch writes instead of queueing behind it.

    Inside a transaction already open, the block simply reads in it; so it does on PostgreSQL, where
    a read never waits for writers and a transaction of its own would only add round trips (a second
    pool checkout with its ping, a ROLLBACK) to every request.
    """
    if isinstance(session, scoped_session):
        session = session()  # the session of this app context, as every statement in the block uses
    if session.in_transaction() or session.get_bind().dialect.name != "sqlite":
        yield
        return
    marker = read_only_transaction.set(True)
    try:
        yield
    finally:
        read_only_transaction.reset(marker)
        session.rollback()


def reads_only(view: View) -> View:
    """For a view that only reads and returns plain data (dicts, bytes: nothing the ORM would load
    later): its queries run in `reading_only`, so on SQLite a coordinator's list or a tablet's form
    download is served from a snapshot instead of queueing behind push batches for the write lock.
    Applied next to `def`, inside flask-smorest's decorators, which serialise the returned data.
    A view that writes must not have it: its write would wait for the lock inside a read snapshot,
    and fail at once if another writer had committed meanwhile."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reading_only(db.session()):
            return view(*args, **kwargs)

    return cast(View, wrapper)


def _finish_transaction(response: Response) -> Response:
    if response.status_code < 400 or g.get("commit_on_error"):
        db.session.commit()
    else:
        db.session.rollback()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_finish_transaction)
