"""One commit per request, in one place.

Business operations only add and flush; this hook commits when the request succeeded and rolls
back when it failed. A handler whose error must still keep what it wrote (a revoked device's
mutations go to quarantine before the 403) sets `g.commit_on_error = True`.
"""

from __future__ import annotations

from flask import Flask, g
from flask.wrappers import Response

from server.extensions import db


def _finish_transaction(response: Response) -> Response:
    if response.status_code < 400 or g.get("commit_on_error"):
        db.session.commit()
    else:
        db.session.rollback()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_finish_transaction)
