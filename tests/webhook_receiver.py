"""A real webhook receiver for tests and benchmarks: an HTTP server on loopback, on a thread of the
test process, that verifies every delivery with the `standardwebhooks` package (the Standard Webhooks
reference library, not Fieldsync's own signing) and keeps what it accepted.

    with Receiver() as receiver:
        ...create a webhook for receiver.url, receiver.secret is set from the creation's answer...
        receiver.wait_for(lambda r: len(r.accepted) >= 3)

`behaviour` decides each answer: a status code, ("slow", seconds) or ("redirect", location); by
default 204. A delivery whose signature does not verify is answered 400 and kept in `rejected`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Answer = int | tuple[str, Any]


@dataclass
class Delivery:
    event_id: str
    body: dict[str, Any]
    received_at: float


@dataclass
class Receiver:
    secret: str | None = None
    behaviour: Callable[[int], Answer] = lambda _: 204  # noqa: E731 (the attempt number -> the answer)
    accepted: list[Delivery] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        # Reentrant: `wait_for` evaluates its condition holding it, and a condition may call `versions`.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = receiver._answer(self.headers, body)
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                    answer = 204
                if isinstance(answer, tuple) and answer[0] == "redirect":
                    self.send_response(307)
                    self.send_header("Location", answer[1])
                else:
                    self.send_response(int(answer))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _answer(self, headers: Any, body: bytes) -> Answer:
        with self._lock:
            self.attempts += 1
            attempt = self.attempts
        answer = self.behaviour(attempt)
        if answer == 204 or (isinstance(answer, int) and 200 <= answer < 300):
            try:
                Webhook(self.secret or "").verify(body, {name.lower(): value for name, value in headers.items()})
            except (WebhookVerificationError, Exception) as error:  # a bad signature, or no secret yet
                with self._changed:
                    self.rejected.append(f"{type(error).__name__}: {error}")
                    self._changed.notify_all()
                return 400
            with self._changed:
                self.accepted.append(Delivery(headers["webhook-id"], json.loads(body), time.monotonic()))
                self._changed.notify_all()
        return answer

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused); `start` listens again on the same port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def restart(self) -> None:
        port = self._server.server_address[1]
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._server.RequestHandlerClass)
        self._server.daemon_threads = True
        self.start()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, condition: Callable[[Receiver], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
        return True

    def versions(self) -> set[tuple[str, int]]:
        """(record id, version) of every accepted event."""
        with self._lock:
            return {(d.body["data"]["id"], d.body["data"]["version"]) for d in self.accepted}
