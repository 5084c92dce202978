"""Content fingerprints for idempotency (batch bodies and mutations).

Hashing the parsed JSON in one canonical form, not the raw bytes, means a
re-sent body counts as the same whatever its key order, whitespace or gzip.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN/Infinity refused (not JSON)."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def fingerprint(value: Any) -> str:
    """Hex sha256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
