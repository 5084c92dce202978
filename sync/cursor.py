"""Opaque, signed pull cursors.

A cursor is base64url(compact JSON) + "." + base64url(HMAC-SHA256 tag). The
tag stops a client from forging a cursor into another team's stream or an
arbitrary seq; the scope fingerprint lets the server see that the device's
team or country changed since the cursor was made (410 reset_required).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from sync.errors import InvalidCursor
from sync.fingerprint import canonical_json

FORMAT_VERSION = 1
STREAMS = frozenset({"reference", "records", "quarantine"})
_TAG_BYTES = 16  # 128-bit tag: unforgeable, and keeps cursors short in URLs


@dataclass(frozen=True)
class Cursor:
    stream: str
    seq: int  # last seq the client holds; the next page is strictly after it
    scope: str  # scope_fingerprint() at the time the cursor was made
    version: int = FORMAT_VERSION


def scope_fingerprint(team_id: str, country: str) -> str:
    """A short, non-revealing digest of what a device may pull."""
    return hashlib.sha256(canonical_json([team_id, country])).hexdigest()[:16]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def encode_cursor(cursor: Cursor, key: bytes) -> str:
    payload = canonical_json({"v": cursor.version, "s": cursor.stream, "q": cursor.seq, "f": cursor.scope})
    return f"{_b64encode(payload)}.{_b64encode(_tag(payload, key))}"


def decode_cursor(token: str, key: bytes) -> Cursor:
    """The cursor inside ``token``; InvalidCursor if malformed or not ours."""
    try:
        body, tag = token.split(".")
        payload, given = _b64decode(body), _b64decode(tag)
    except (ValueError, binascii.Error) as exc:
        raise InvalidCursor("malformed cursor") from exc
    if not hmac.compare_digest(given, _tag(payload, key)):
        raise InvalidCursor("cursor signature does not match")
    try:
        fields = json.loads(payload)
        cursor = Cursor(stream=fields["s"], seq=fields["q"], scope=fields["f"], version=fields["v"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("malformed cursor payload") from exc
    if not (
        isinstance(cursor.stream, str)
        and isinstance(cursor.seq, int)
        and not isinstance(cursor.seq, bool)
        and cursor.seq >= 0
        and isinstance(cursor.scope, str)
        and isinstance(cursor.version, int)
    ):
        raise InvalidCursor("malformed cursor payload")
    return cursor


def needs_reset(cursor: Cursor, *, stream: str, scope: str, oldest_seq: int = 0) -> bool:
    """True if the server can no longer serve this cursor (410 reset_required).

    That is when it was made by another cursor format, for another stream or
    scope, or when history after it was pruned (``oldest_seq``: the lowest
    seq the server can still list changes after).
    """
    return (
        cursor.version != FORMAT_VERSION or cursor.stream != stream or cursor.scope != scope or cursor.seq < oldest_seq
    )
