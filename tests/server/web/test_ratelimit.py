"""The client address rate limits key on (server/web/ratelimit.py `client_address`), config parsing, and
the back-off's arithmetic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from config import load_config
from server.persistence.timeutil import utcnow
from server.web.ratelimit import Backoff, client_address, record_failure, retry_after


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", None, 0, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", 0, "203.0.113.5"),  # no proxy trusted: the header is the client's word
        ("10.0.0.1", "198.51.100.1", 1, "198.51.100.1"),
        ("10.0.0.1", "6.6.6.6, 198.51.100.1", 1, "198.51.100.1"),  # the client's own entry is to the left
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.1", 2, "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1", 2, "10.0.0.2"),  # fewer entries than proxies: the request bypassed one
        ("10.0.0.1", None, 1, "10.0.0.1"),
        ("2001:db8:1:2:3:4:5:6", None, 0, "2001:db8:1:2::/64"),  # one IPv6 client holds a /64
        ("::ffff:192.0.2.9", None, 0, "192.0.2.9"),
        (None, None, 0, "unknown"),
    ],
)
def test_client_address(remote, forwarded, trusted, expected) -> None:
    assert client_address(remote, forwarded, trusted) == expected


def test_a_garbage_forwarded_entry_gets_a_bounded_key_of_its_own() -> None:
    address = client_address("10.0.0.1", "x" * 10_000, 1)
    assert address.startswith("other:") and len(address) < 40


def test_trusted_proxies_is_read_from_the_environment() -> None:
    assert load_config({})["TRUSTED_PROXIES"] == 0
    assert load_config({"TRUSTED_PROXIES": "2"})["TRUSTED_PROXIES"] == 2
    for bad in ("-1", "two"):
        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            load_config({"TRUSTED_PROXIES": bad})


def test_failures_within_the_free_allowance_ask_no_wait_even_from_a_request_that_read_the_clock_first(
    session: Session,
) -> None:
    # Requests racing under one key: each reads the clock, then waits its turn for the database. A
    # failure recorded by the one served first is then "later" than this request's `now`.
    limit = Backoff(key="racing", free=3, base=timedelta(seconds=30), cap=timedelta(hours=1),
                    window=timedelta(hours=1))
    now = utcnow()
    record_failure(session, [limit], now + timedelta(milliseconds=5))
    record_failure(session, [limit], now + timedelta(milliseconds=9))
    assert retry_after(session, [limit], now) is None  # two of three free failures: no wait

    record_failure(session, [limit], now + timedelta(milliseconds=12))
    assert retry_after(session, [limit], now + timedelta(milliseconds=12)) == 30  # then base, doubling
    record_failure(session, [limit], now + timedelta(seconds=31))
    assert retry_after(session, [limit], now + timedelta(seconds=31)) == 60
    assert retry_after(session, [limit], now + timedelta(seconds=92)) is None
