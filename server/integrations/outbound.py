"""Outbound HTTP that cannot be turned (issue 29 item 5): one request, to the origin configured, or nothing.

Every client that calls another server with credentials (DHIS2 today; webhooks and later clients may
reuse it) goes through `send`:

- a URL holding userinfo (`https://user:password@host/`) is refused before anything is sent, and the
  message never repeats it: credentials belong in their own settings, not in a URL that is printed;
- only `http` and `https`, with a host;
- redirects are never followed: a 3xx comes back to the caller as the answer it is (urllib would
  follow it, re-sending the Authorization header to whatever host `Location` names, and turn a POST
  into a GET that "succeeds" with nothing posted);
- at most `max_body` bytes of the answer are read;
- `describe(url)` is the URL as it may be printed: no userinfo, no query values (server/web/redaction.py).

What counts as success is the caller's to say (each API documents its own); `Answer.ok_status`
is only the 2xx test.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from server.web.redaction import redact

DEFAULT_MAX_BODY = 16 * 1024 * 1024


class OutboundError(Exception):
    """The request was not sent (a refused URL) or got no HTTP answer (unreachable, timeout)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok_status(self) -> bool:
        return 200 <= self.status < 300

    @property
    def redirect(self) -> bool:
        return 300 <= self.status < 400


def describe(url: str) -> str:
    """The URL as it may appear in a message or a log: credentials and query values removed."""
    return redact(url)


def check_url(url: str, *, name: str = "the URL") -> urllib.parse.SplitResult:
    """The URL split, or OutboundError saying what is wrong with it (never echoing credentials)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundError(f"{name} must be an http(s) URL.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise OutboundError(f"{name} must not hold credentials (user:password@host): give them in their own settings.")
    if not parts.hostname:
        raise OutboundError(f"{name} has no host.")
    return parts


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        return None  # urllib then raises the 3xx as an HTTPError, which `send` answers as it is


_OPENER = urllib.request.build_opener(_NoRedirect())


def send(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 60.0, max_body: int = DEFAULT_MAX_BODY) -> Answer:
    """One HTTP request to exactly `url`'s origin; every HTTP answer (3xx, 4xx, 5xx too) is returned."""
    check_url(url)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read(max_body), dict(response.headers.items()))
    except urllib.error.HTTPError as error:
        try:
            content = error.read(max_body)
        except OSError:
            content = b""
        return Answer(error.code, content, dict(error.headers.items()) if error.headers else {})
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = redact(str(getattr(error, "reason", error)))
        raise OutboundError(f"{describe(url)} not reachable: {reason}") from None
