"""Fieldsync: the server that humanitarian field teams sync their records to.

`flask --app server ...` finds `create_app` here.
"""

from server.app import create_app

__all__ = ["create_app"]
