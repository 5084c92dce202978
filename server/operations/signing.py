"""The key that signs pull cursors, the same in every process of a deployment.

`SECRET_KEY`, when configured, is the key (an operator's override, e.g. to rotate it). Without it
the key is the one the migrations stored in `instance_secrets`: a key per process made half of a
tablet's pages fail under several gunicorn workers, and every restart reset every tablet.
"""

from __future__ import annotations

import secrets
import threading

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import InstanceSecret
from server.persistence.timeutil import utcnow

CURSOR_SIGNING = "cursor_signing"

# Per process and database: the stored key never changes, so it is read once.
_cache: dict[str, bytes] = {}
_lock = threading.Lock()


def stored_key(session: Session, name: str = CURSOR_SIGNING) -> str:
    """The stored secret `name`, made (once, race-safely) if the row is missing."""
    value = session.scalar(select(InstanceSecret.value).where(InstanceSecret.name == name))
    if value is not None:
        return value
    # Only a database whose row was deleted by hand gets here (migration 0005 makes it). Two
    # processes may race: the loser's insert fails inside its savepoint and it reads the winner's.
    try:
        with session.begin_nested():
            session.add(InstanceSecret(name=name, value=secrets.token_hex(32), created_at=utcnow()))
    except IntegrityError:
        pass
    value = session.scalar(select(InstanceSecret.value).where(InstanceSecret.name == name))
    if value is None:
        raise RuntimeError(f"instance secret {name!r} could not be stored")
    return value


def cursor_key() -> bytes:
    """The key for this app's pull cursors."""
    configured = str(current_app.config.get("SECRET_KEY") or "")
    if configured:
        return configured.encode("utf-8")
    uri = str(current_app.config["SQLALCHEMY_DATABASE_URI"])
    key = _cache.get(uri)
    if key is None:
        with _lock:
            key = _cache.get(uri)
            if key is None:
                key = stored_key(db.session).encode("ascii")
                _cache[uri] = key
    return key
