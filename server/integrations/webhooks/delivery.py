"""One HTTP attempt: POST the signed event to the receiver, within the deadline, no redirects.

The receiver's host is resolved and checked again here (server/integrations/webhooks/urls.py) and the socket
connects to the address that was checked, so a name re-pointed at an inside address after the
webhook was created (DNS rebinding) is refused, not followed; https still verifies the certificate
against the host's name. At most RESPONSE_LIMIT bytes of the answer are read: a receiver cannot make
the worker hold a large body. Nothing here logs the URL's credentials or the secret.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import unquote

from server.integrations.webhooks import signature
from server.integrations.webhooks.urls import Target, UnsafeUrl, UrlPolicy, parse, resolve

RESPONSE_LIMIT = 4096
USER_AGENT = "Fieldsync-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None
    error: str | None  # short, for the deliveries list; never a credential


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one checked address, named by the URL's host."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self._target.port), self.timeout)
        # Requests are small and each waits for its answer: without this, Nagle's algorithm meeting
        # the receiver's delayed ACK held every request on a kept-alive connection ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._target.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._target.host)
        self.sock = sock


class Sender:
    """Sends one webhook's events, one after another, on one kept-alive connection to one checked
    address: the host is resolved and checked when the sender is made (once per run of events, so
    again at every worker turn), and a new connection is opened only when the receiver closed the
    last one. `send` never raises."""

    def __init__(self, url: str, secret: str, *, policy: UrlPolicy, timeout: float) -> None:
        self.secret = secret
        self.timeout = timeout
        self.refused: str | None = None
        self._connection: _PinnedConnection | None = None
        self._auth: str | None = None
        try:
            self.target = parse(url, policy)
            self.address = resolve(self.target, policy)[0]
        except UnsafeUrl as error:
            self.refused = str(error)[:200]
            return
        if self.target.username is not None:
            credentials = f"{unquote(self.target.username)}:{unquote(self.target.password or '')}"
            self._auth = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")

    def send(self, event_id: str, body: bytes) -> Outcome:
        if self.refused is not None:
            return Outcome(False, None, self.refused)
        deadline = time.monotonic() + self.timeout
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signature.headers(self.secret, event_id, int(time.time()), body)}
        if self._auth is not None:
            headers["Authorization"] = self._auth
        if self._connection is None:
            self._connection = _PinnedConnection(self.target, self.address, self.timeout)
        connection = self._connection
        try:
            _remaining(connection, deadline)
            connection.request("POST", self.target.path, body=body, headers=headers)
            _remaining(connection, deadline)
            response = connection.getresponse()
            _remaining(connection, deadline)
            response.read(RESPONSE_LIMIT)  # read (a little) so the receiver is not cut off mid-answer
            status = response.status
            if not response.isclosed() or response.will_close:  # a longer answer, or no keep-alive
                self.close()
        except TimeoutError:
            self.close()
            return Outcome(False, None, f"no answer within {self.timeout:g} s")
        except (OSError, http.client.HTTPException) as error:
            self.close()
            # The error's class only: a socket or TLS message may quote the host; never a credential.
            return Outcome(False, None, type(error).__name__)
        if time.monotonic() > deadline:
            return Outcome(False, status, f"answered after {self.timeout:g} s")
        if 200 <= status < 300:
            return Outcome(True, status, None)
        if 300 <= status < 400:
            return Outcome(False, status, "redirect (not followed)")
        return Outcome(False, status, f"HTTP {status}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _remaining(connection: http.client.HTTPConnection, deadline: float) -> None:
    """The whole exchange has one deadline, not one per socket read (a receiver trickling its answer
    a byte a second would otherwise hold the worker for ever)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    if connection.sock is not None:
        connection.sock.settimeout(left)
