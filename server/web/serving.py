"""The gunicorn worker `make run` serves with: gthread, except that a request reaches a thread only
once it has fully arrived.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes arrive; the
thread then blocks on the socket until the request head is complete. About a dozen connections that
send half a header line and then nothing (slowloris, or just a tablet on a dying 2G link) held every
thread of a default deployment, and `/healthz` stopped answering. Here the worker's event loop reads
what a connection sends, without blocking, into a buffer of its own until the head (and a body of
declared length up to `MAX_BUFFERED_BODY`) is complete, then hands the buffered bytes to a thread
together with the connection; gunicorn's own parser reads them first. Slow senders cost a socket and
a buffer, never a thread, and are closed when they stall:

- the head must be complete within `HEADER_TIMEOUT` seconds of the connection's first byte
  (nginx's `client_header_timeout` is the same idea);
- a body may arrive as slowly as a satellite link sends it, but not stop: `BODY_IDLE_TIMEOUT`
  seconds without a byte close the connection (nginx's `client_body_timeout`).

Only *when* a request is dispatched is decided here; a head that our quick scan misreads is still
parsed (and refused with 400) by gunicorn's parser, so this module cannot change what is accepted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import TConn, ThreadWorker

from server.web.redaction import protect

HEADER_TIMEOUT = 20.0
BODY_IDLE_TIMEOUT = 60.0
# Above this, a body is read by the thread as usual (the app refuses bodies over its limit, 5 MB,
# with 413 after reading little); below it, the event loop collects it first.
MAX_BUFFERED_BODY = 6 * 1024 * 1024
# gunicorn's own limits: request line 4094 bytes, 100 header fields of 8190 bytes.
MAX_HEAD = 4096 + 100 * 8192
_RECV = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r\n", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.IGNORECASE)


def request_complete(buffer: bytes) -> bool:
    """True once `buffer` holds a whole request head, and the whole body when its declared length
    is small enough to collect here (else the thread reads the body, as gthread does)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return len(buffer) > MAX_HEAD  # far too long: let gunicorn's parser refuse it now
    head = buffer[: end + 2]
    if _CHUNKED.search(head):
        return True
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return True
    length = int(match.group(1))
    if length > MAX_BUFFERED_BODY:
        return True
    return len(buffer) - (end + 4) >= length


class BufferedConn(TConn):
    """A connection with the bytes the event loop read for it before a thread took it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffered = b""
        self.first_byte_at: float | None = None
        self.deadline = 0.0

    def init(self) -> None:
        fresh = not self.initialized
        super().init()
        if fresh and self.buffered and self.parser is not None:
            self.parser.unreader.unread(self.buffered)
            self.buffered = b""

    def extend_deadline(self, now: float) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = now
        head_done = b"\r\n\r\n" in self.buffered
        self.deadline = now + BODY_IDLE_TIMEOUT if head_done else self.first_byte_at + HEADER_TIMEOUT


class RedactingLogger(Logger):
    """gunicorn's logger whose access and error logs pass every line through server/web/redaction.py.

    The access line's request (`%(r)s`) holds the path, where Collect's key is, and the query string;
    gunicorn's warning about an invalid request quotes the request line. Redacting the formatted line
    on the handlers covers every atom and every message, whatever the configured format says.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        protect(self.error_log)
        protect(self.access_log)


# The envelope's codes for what gunicorn refuses before the app sees the request (api.md "Errors").
_GUNICORN_ERRORS: dict[int, tuple[str, str]] = {
    400: ("malformed_request", "The request could not be read."),
    403: ("forbidden", "The request is forbidden."),
    414: ("request_line_too_long", "The request line (method, URL and version) is longer than 4094 bytes."),
    417: ("expectation_failed", "The request's Expect header cannot be met."),
    431: ("headers_too_large", "The request has more than 100 header fields, or one longer than 8190 bytes."),
    500: ("internal_error", "The server could not complete the request."),
    501: ("not_implemented", "The request's transfer coding is not supported."),
}


def write_error_envelope(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own refusals in the error envelope instead of its HTML page.

    `mesg` (gunicorn's description, which may quote the request line and so a key) is not echoed:
    the message says which limit was exceeded in words of its own.
    """
    code, message = _GUNICORN_ERRORS.get(status_int, ("http_error" if status_int < 500 else "internal_error",
                                                      reason))
    body = json.dumps({"error": {"code": code, "message": message, "fields": {}}},
                      separators=(",", ":")).encode("utf-8")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    gunicorn_util.write_nonblock(sock, head + body)


class BufferingThreadWorker(ThreadWorker):
    """gthread whose event loop collects each new request before a thread serves it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: deque[BufferedConn] = deque()

    def init_process(self) -> None:
        # gunicorn's base worker answers its refusals (414, 431, 400...) through util.write_error;
        # in this worker process they are written in the envelope (api.md "Additions (v1.2)").
        gunicorn_util.write_error = write_error_envelope
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = BufferedConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking now
        conn.deadline = time.monotonic() + self.cfg.keepalive + HEADER_TIMEOUT
        self._collect(conn)

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection's next request is collected the same way, not handed over at once."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        if isinstance(conn, BufferedConn) and not self.cfg.is_ssl:
            conn.deadline = time.monotonic() + HEADER_TIMEOUT
            conn.first_byte_at = None
            self._collect(conn, read_now=True)
        else:
            self.enqueue_req(conn)

    def _collect(self, conn: BufferedConn, *, read_now: bool = False) -> None:
        if self.cfg.is_ssl:  # TLS is terminated in a thread by gthread itself; hand over as before
            conn.data_ready = False
            self.enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        self.arriving.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_arriving_readable, conn))
        if read_now:
            self._on_arriving_readable(conn, conn.sock)

    def _on_arriving_readable(self, conn: BufferedConn, client: socket.socket) -> None:
        try:
            chunk = client.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away before finishing its request
            self._forget(conn)
            self.nr_conns -= 1
            conn.close()
            return
        conn.buffered += chunk
        conn.extend_deadline(time.monotonic())
        if request_complete(conn.buffered):
            self._forget(conn)
            conn.data_ready = True
            if conn.initialized:
                # A kept-alive connection: its parser exists already (and holds no read-ahead, or
                # gthread would have served it without the poller), so the bytes go to it now.
                conn.parser.unreader.unread(conn.buffered)
                conn.buffered = b""
            self.enqueue_req(conn)

    def _forget(self, conn: BufferedConn) -> None:
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        with contextlib.suppress(ValueError):
            self.arriving.remove(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn in self.arriving if conn.deadline <= now]:
            self._forget(conn)
            self.nr_conns -= 1
            conn.close()
