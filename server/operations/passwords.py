"""Password hashing with Argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        if not password_hash:
            # Checked against a dummy all the same: an unknown username answers as slowly as a wrong password.
            _hasher.verify(_dummy_hash(), password)
            return False
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # Made at the first use, not at import: a hash takes ~0.2 s of two cores, which every process
    # that starts (each gunicorn worker, each CLI command) would otherwise pay.
    return _hasher.hash("fieldsync-timing-equaliser")
