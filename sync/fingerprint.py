"""Content fingerprints for idempotency (batch bodies and mutations).

Hashing the parsed JSON in one canonical form, not the raw bytes, means a
re-sent body counts as the same whatever its key order, whitespace or gzip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

# One encoder for every call: `json.dumps` with options builds a JSONEncoder each time, and a push
# encodes each of its (up to 500) items. An encoder keeps no state between calls: threads share it.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN/Infinity refused (not JSON)."""
    return _CANONICAL.encode(value).encode("utf-8")


def fingerprint(value: Any) -> str:
    """Hex sha256 of :func:`canonical_json`."""
    return fingerprint_of_json(canonical_json(value))


def fingerprint_of_json(canonical: bytes) -> str:
    """`fingerprint` of the value whose `canonical_json` is `canonical` (bytes already made)."""
    return hashlib.sha256(canonical).hexdigest()


def envelope_fingerprint(envelope: dict[str, Any], items_key: str, item_json: Sequence[bytes]) -> str:
    """`fingerprint(envelope)`, given `canonical_json` of each item of `envelope[items_key]` in order.

    A push body is nearly all its items, and each item is encoded for its own fingerprint anyway:
    hashing the body from those bytes instead of encoding it again saved ~4 ms of a 500-item batch.
    The bytes are exactly `canonical_json(envelope)`'s (sorted keys, "," and ":" separators).
    """
    members = [canonical_json(key) + b":"
               + (b"[" + b",".join(item_json) + b"]" if key == items_key else canonical_json(envelope[key]))
               for key in sorted(envelope)]
    return fingerprint_of_json(b"{" + b",".join(members) + b"}")
