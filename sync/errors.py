"""Errors of the sync engine. No HTTP codes here: the server maps them."""

from __future__ import annotations


class SyncError(Exception):
    """Base class of the engine's errors."""


class InvalidCursor(SyncError):
    """A pull cursor that is malformed or not signed by this server."""
