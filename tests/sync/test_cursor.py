"""Pull cursors: opaque, signed, scoped."""

from __future__ import annotations

import base64
import json

import pytest

from sync.cursor import Cursor, decode_cursor, encode_cursor, needs_reset, scope_fingerprint
from sync.errors import InvalidCursor

KEY = b"server-secret"
SCOPE = scope_fingerprint("team-tripoli", "LY")


def test_round_trip() -> None:
    cursor = Cursor("records", 880412, SCOPE)
    token = encode_cursor(cursor, KEY)
    assert decode_cursor(token, KEY) == cursor
    assert "=" not in token and "/" not in token and "+" not in token  # URL-safe as is


def test_cursor_does_not_reveal_the_team() -> None:
    token = encode_cursor(Cursor("records", 1, SCOPE), KEY)
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert b"team-tripoli" not in payload


def test_scope_fingerprint_differs_by_team_and_country() -> None:
    assert len({SCOPE, scope_fingerprint("team-benghazi", "LY"), scope_fingerprint("team-tripoli", "TN")}) == 3


def _forge(token: str, **changes: object) -> str:
    body, tag = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, **changes}).encode()).rstrip(b"=").decode()
    return f"{forged}.{tag}"


def test_a_forged_seq_or_scope_is_refused() -> None:
    token = encode_cursor(Cursor("records", 10, SCOPE), KEY)
    for forged in (_forge(token, q=0), _forge(token, f=scope_fingerprint("team-benghazi", "LY"))):
        with pytest.raises(InvalidCursor):
            decode_cursor(forged, KEY)


def test_a_cursor_from_another_key_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(Cursor("records", 10, SCOPE), b"other"), KEY)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!!.???", "e30.AAAA"])
def test_garbage_is_invalid(token: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(token, KEY)


def test_signed_but_malformed_payload_is_invalid() -> None:
    import hashlib
    import hmac

    payload = b'{"s":"records","q":"ten","f":"x","v":1}'
    tag = hmac.new(KEY, payload, hashlib.sha256).digest()[:16]
    b64 = base64.urlsafe_b64encode
    with pytest.raises(InvalidCursor):
        decode_cursor(f"{b64(payload).decode()}.{b64(tag).decode()}", KEY)


def test_needs_reset_when_it_cannot_be_served() -> None:
    cursor = Cursor("records", 100, SCOPE)
    assert not needs_reset(cursor, stream="records", scope=SCOPE)
    assert not needs_reset(cursor, stream="records", scope=SCOPE, oldest_seq=100)
    assert needs_reset(cursor, stream="records", scope=SCOPE, oldest_seq=101)  # history pruned
    assert needs_reset(cursor, stream="records", scope=scope_fingerprint("team-benghazi", "LY"))
    assert needs_reset(cursor, stream="reference", scope=SCOPE)
    assert needs_reset(Cursor("records", 100, SCOPE, version=0), stream="records", scope=SCOPE)
