"""The delivery worker: sends the outbox's events (`flask --app server webhooks worker`; `make run`
starts one beside gunicorn).

At every poll it first routes the changes committed since (server/integrations/webhooks/routing.py)
to the queues of the webhooks that ask for them, then sends.

A webhook's events go out one worker at a time, in (seq, id) order: a worker takes a *lease* on the
webhook (`lease_owner`, `lease_until`, claimed in a short transaction; on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so several workers share the webhooks without waiting on each other; on
SQLite one worker runs), sends its due events, and gives the lease back. A worker killed mid-delivery
leaves its lease to expire (WEBHOOK_LEASE_SECONDS) and its event pending, so the next worker sends
it again with the same `webhook-id`: at least once, never lost.

Each webhook's turn runs on a thread of its own, so a slow or failing receiver (up to the 10 s
deadline per attempt) never delays another webhook. A turn ends after TURN_SECONDS even while events
keep coming, and the webhooks whose first pending event has waited longest are claimed first: with
more busy webhooks than threads, each gets its turn instead of the first ones holding the threads
for as long as tablets push (measured: 10 webhooks on 8 threads, a p95 delay of 15 s before).
A failed attempt ends the webhook's turn and
sets its next attempt after a growing wait (WEBHOOK_RETRY_BASE_SECONDS doubling up to
WEBHOOK_RETRY_MAX_WAIT_SECONDS); the events behind it wait, so order holds, and while a receiver
is down one probe goes to it per wait, not one per event. An event that has failed for the whole
window (WEBHOOK_RETRY_WINDOW_SECONDS, 24 h) is `failed`, and the next one is tried.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from server.extensions import db
from server.integrations.webhooks import delivery, routing
from server.integrations.webhooks.urls import UrlPolicy, redacted
from server.models import Webhook, WebhookEvent
from server.models.webhooks import DELIVERED, FAILED, PENDING
from server.persistence.timeutil import utcnow
from server.web.transactions import reading_only

log = logging.getLogger("fieldsync.webhooks")

_EVENTS = WebhookEvent.__table__
_HOOKS = Webhook.__table__
TURN_EVENTS = 100  # events read at once for one webhook's turn
PRUNE_EVERY_SECONDS = 300.0
FLUSH_SECONDS = 0.5  # outcomes are recorded at least this often during a long run of deliveries
TURN_SECONDS = 1.0  # a turn gives its thread back after this long, so no webhook waits behind another


def _head_due_at() -> Any:
    """When the webhook's first pending event is due: only the head is ever retried, so the events
    behind it are due once it is."""
    return (select(_EVENTS.c.next_attempt_at).where(_EVENTS.c.webhook_id == _HOOKS.c.id, _EVENTS.c.status == PENDING)
            .order_by(_EVENTS.c.seq, _EVENTS.c.id).limit(1).scalar_subquery())


def retry_wait(config: dict[str, Any], attempts: int) -> timedelta:
    base = float(config["WEBHOOK_RETRY_BASE_SECONDS"])
    cap = float(config["WEBHOOK_RETRY_MAX_WAIT_SECONDS"])
    return timedelta(seconds=min(cap, base * 2 ** min(max(attempts - 1, 0), 40)))


class Worker:
    def __init__(self, app: Flask, *, threads: int | None = None) -> None:
        self.app = app
        self.config = app.config
        self.owner = f"{socket.gethostname()[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.threads = threads or int(self.config["WEBHOOK_WORKER_THREADS"])
        self.policy = UrlPolicy.from_config(self.config)
        self.stopping = threading.Event()
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._last_prune = 0.0

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.app.app_context():
            try:
                yield db.session()
            finally:
                db.session.remove()

    # --- routing ------------------------------------------------------------------------------
    def route(self) -> int:
        """Route every committed change waiting in the outbox to its webhooks' queues."""
        routed = 0
        max_pending = int(self.config["WEBHOOK_MAX_PENDING"])
        while not self.stopping.is_set():
            with self._session() as session:
                count = routing.route(session, max_pending)
            routed += count
            if count < routing.ROUTE_BATCH:
                return routed
        return routed

    # --- claiming -----------------------------------------------------------------------------
    def claim(self, limit: int) -> list[int]:
        """Lease up to `limit` webhooks whose first pending event is due, and that no live worker holds."""
        if limit <= 0:
            return []
        lease = timedelta(seconds=float(self.config["WEBHOOK_LEASE_SECONDS"]))
        with self._session() as session:
            now = utcnow()
            with self._lock:
                busy = set(self._busy)
            due_at = _head_due_at()
            stmt = (select(_HOOKS.c.id)
                    .where(or_(_HOOKS.c.lease_until.is_(None), _HOOKS.c.lease_until < now), due_at <= now,
                           _HOOKS.c.id.not_in(busy) if busy else True)
                    .order_by(due_at, _HOOKS.c.id).limit(limit))
            # Most polls find nothing due: asked first in a read that takes no lock (on SQLite every
            # write transaction holds the one lock the pushes need).
            with reading_only(session):
                if not session.scalars(stmt).first():
                    return []
            ids = list(session.scalars(stmt.with_for_update(of=_HOOKS, skip_locked=True)))
            if ids:
                session.execute(update(_HOOKS).where(_HOOKS.c.id.in_(ids))
                                .values(lease_owner=self.owner, lease_until=now + lease))
            session.commit()
        return ids

    def _release(self, session: Session, hook_id: int) -> None:
        session.execute(update(_HOOKS).where(_HOOKS.c.id == hook_id, _HOOKS.c.lease_owner == self.owner)
                        .values(lease_owner=None, lease_until=None))
        session.commit()

    # --- one webhook's turn ---------------------------------------------------------------------
    def turn(self, hook_id: int) -> int:
        """Send the webhook's due events in order until one fails or none is due; returns attempts made."""
        attempts = 0
        lease = timedelta(seconds=float(self.config["WEBHOOK_LEASE_SECONDS"]))
        timeout = float(self.config["WEBHOOK_TIMEOUT_SECONDS"])
        began = time.monotonic()
        with self._session() as session:
            try:
                while not self.stopping.is_set() and time.monotonic() - began < TURN_SECONDS:
                    # A read that takes no lock on SQLite, ended before the receiver is called.
                    with reading_only(session):
                        hook = session.execute(select(_HOOKS.c.url, _HOOKS.c.secret, _HOOKS.c.lease_owner)
                                               .where(_HOOKS.c.id == hook_id)).first()
                        events = session.execute(
                            select(_EVENTS.c.id, _EVENTS.c.event_id, _EVENTS.c.payload, _EVENTS.c.attempts,
                                   _EVENTS.c.failing_since, _EVENTS.c.next_attempt_at)
                            .where(_EVENTS.c.webhook_id == hook_id, _EVENTS.c.status == PENDING)
                            .order_by(_EVENTS.c.seq, _EVENTS.c.id).limit(TURN_EVENTS)).all()
                    session.rollback()
                    if hook is None or hook.lease_owner != self.owner:  # deleted, or the lease was lost
                        return attempts
                    now = utcnow()
                    if not events or events[0].next_attempt_at > now:
                        break
                    sender = delivery.Sender(hook.url, hook.secret, policy=self.policy, timeout=timeout)
                    outcomes: list[tuple[Any, delivery.Outcome]] = []
                    flushed = time.monotonic()
                    failed = False
                    try:
                        for event in events:
                            if self.stopping.is_set():
                                break
                            outcome = sender.send(event.event_id, event.payload.encode())
                            attempts += 1
                            outcomes.append((event, outcome))
                            if not outcome.delivered:
                                failed = True
                                log.info("webhook %s event %s not delivered (%s) to %s", hook_id, event.event_id,
                                         outcome.error, redacted(hook.url))
                                break
                            if time.monotonic() - flushed > FLUSH_SECONDS:
                                self._record(session, hook_id, outcomes, lease)
                                outcomes, flushed = [], time.monotonic()
                    finally:
                        sender.close()
                        self._record(session, hook_id, outcomes, lease)
                    if failed:  # the events behind it wait for its next attempt: order holds
                        break
            finally:
                session.rollback()
                self._release(session, hook_id)
        return attempts

    def _record(self, session: Session, hook_id: int, outcomes: list[tuple[Any, delivery.Outcome]],
                lease: timedelta) -> None:
        """The outcomes of a run of attempts, in one transaction (one write per run, not per event: on
        SQLite every write queues for the one lock the pushes need). Attempts made but not yet recorded
        when the worker dies are made again: at least once."""
        if not outcomes:
            return
        now = utcnow()
        window = timedelta(seconds=float(self.config["WEBHOOK_RETRY_WINDOW_SECONDS"]))
        # The webhook's row first (its lease renewed), then its events: the order a delete takes them
        # (service.py `remove`), so the two never wait for each other in a cycle.
        session.execute(update(_HOOKS).where(_HOOKS.c.id == hook_id, _HOOKS.c.lease_owner == self.owner)
                        .values(lease_until=now + lease))
        delivered = [{"key": event.id, "attempts": event.attempts + 1, "code": outcome.status_code}
                     for event, outcome in outcomes if outcome.delivered]
        if delivered:
            # `status == pending`: a retry or a delete meanwhile wins over this attempt's outcome.
            session.execute(update(_EVENTS).where(_EVENTS.c.id == bindparam("key"), _EVENTS.c.status == PENDING)
                            .values(status=DELIVERED, attempts=bindparam("attempts"),
                                    last_status_code=bindparam("code"), last_error=None, finished_at=now,
                                    failing_since=None),
                            delivered)
        for event, outcome in outcomes:
            if outcome.delivered:
                continue
            since = event.failing_since or now
            values: dict[str, Any] = {"attempts": event.attempts + 1, "last_status_code": outcome.status_code,
                                      "last_error": outcome.error, "failing_since": since}
            if now - since >= window:
                values.update(status=FAILED, finished_at=now)
            else:
                values.update(next_attempt_at=now + retry_wait(self.config, event.attempts + 1))
            session.execute(update(_EVENTS).where(_EVENTS.c.id == event.id, _EVENTS.c.status == PENDING)
                            .values(**values))
        session.commit()

    # --- running --------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim every due webhook and run their turns, on this thread (tests, benchmarks)."""
        attempts = 0
        self.route()
        for hook_id in self.claim(1_000_000):
            attempts += self.turn(hook_id)
        return attempts

    def prune(self) -> int:
        """Delete delivered and failed events older than WEBHOOK_RETENTION_DAYS."""
        cutoff = utcnow() - timedelta(days=int(self.config["WEBHOOK_RETENTION_DAYS"]))
        with self._session() as session:
            deleted = session.execute(delete(_EVENTS).where(
                and_(_EVENTS.c.finished_at.is_not(None), _EVENTS.c.finished_at < cutoff))).rowcount
            session.commit()
        return int(deleted or 0)

    def _run_turn(self, hook_id: int) -> None:
        try:
            self.turn(hook_id)
        except Exception:  # a database hiccup ends this turn only; the lease expires, the event stays
            log.exception("webhook %s: delivery turn failed", hook_id)
        finally:
            with self._lock:
                self._busy.discard(hook_id)

    def run(self) -> None:
        """Until `stopping` is set: claim due webhooks for the free threads, every WEBHOOK_POLL_SECONDS."""
        poll = float(self.config["WEBHOOK_POLL_SECONDS"])
        log.info("webhook worker %s started (%d threads)", self.owner, self.threads)
        with ThreadPoolExecutor(self.threads, thread_name_prefix="webhook") as pool:
            while not self.stopping.is_set():
                try:
                    with self._lock:
                        free = self.threads - len(self._busy)
                    self.route()
                    claimed = self.claim(free)
                    for hook_id in claimed:
                        with self._lock:
                            self._busy.add(hook_id)
                        pool.submit(self._run_turn, hook_id)
                    if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
                        self._last_prune = time.monotonic()
                        self.prune()
                except Exception:  # the database away for a moment: try again at the next poll
                    log.exception("webhook worker: claiming failed")
                    claimed = []
                if not claimed:
                    self.stopping.wait(poll)
        log.info("webhook worker %s stopped", self.owner)
