"""Loaded by the gunicorn processes `python -m bench.sqlite_lock` starts (this directory first on
their PYTHONPATH): records, per write transaction, when it asked for SQLite's write lock
(`BEGIN IMMEDIATE` sent), when it got it and when it let go (COMMIT or ROLLBACK returned).

One line per transaction, `asked got released` (time.time() seconds), appended to
`$FIELDSYNC_LOCK_TRACE/<pid>.txt` in blocks; nothing else is changed. Never loaded by the product.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Any

_DIRECTORY = os.environ.get("FIELDSYNC_LOCK_TRACE")

if _DIRECTORY:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine, default

    _local = threading.local()
    _lines: list[str] = []
    _guard = threading.Lock()

    def _write() -> None:
        with _guard:
            if _lines:
                with open(os.path.join(_DIRECTORY, f"{os.getpid()}.txt"), "a") as out:
                    out.write("".join(_lines))
                _lines.clear()

    @event.listens_for(Engine, "before_cursor_execute")
    def _asking(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            _local.asked = time.time()

    @event.listens_for(Engine, "after_cursor_execute")
    def _got(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            _local.got = time.time()

    def _ended(original: Any) -> Any:
        def end(self: Any, dbapi_connection: Any) -> None:
            original(self, dbapi_connection)
            asked = getattr(_local, "asked", None)
            if asked is not None:
                _local.asked = None
                with _guard:
                    _lines.append(f"{asked:.6f} {_local.got:.6f} {time.time():.6f}\n")
                    full = len(_lines) >= 100
                if full:
                    _write()
        return end

    default.DefaultDialect.do_commit = _ended(default.DefaultDialect.do_commit)  # type: ignore[method-assign]
    default.DefaultDialect.do_rollback = _ended(default.DefaultDialect.do_rollback)  # type: ignore[method-assign]
    atexit.register(_write)
