"""Password checks (server/operations/passwords.py): an account without a usable hash never logs in."""

from __future__ import annotations

import pytest

from server.operations.passwords import hash_password, verify_password

# What the unknown-username path verifies against, so its timing matches a wrong password.
DUMMY_PASSPHRASE = "fieldsync-timing-equaliser"


@pytest.mark.parametrize("stored", [None, ""], ids=["null", "empty"])
@pytest.mark.parametrize("password", [DUMMY_PASSPHRASE, "", "anything at all"])
def test_no_password_opens_an_account_without_a_hash(stored: str | None, password: str) -> None:
    assert verify_password(stored, password) is False


def test_the_right_password_and_only_it_matches_a_hash() -> None:
    stored = hash_password("a long enough passphrase")

    assert verify_password(stored, "a long enough passphrase") is True
    assert verify_password(stored, "a long enough passphrasE") is False
    assert verify_password("not an argon2 hash", "a long enough passphrase") is False
