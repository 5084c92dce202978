"""Webhook operations behind the API and the dashboard: create, list, delete, deliveries, retry.
They only flush; the request's transaction hook commits (server/web/transactions.py).

Scope: an admin manages every webhook; a coordinator, the webhooks whose countries are all theirs
(a webhook that also covers another country is out of their scope, as it would send that country's
records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.integrations.webhooks.signature import new_secret
from server.integrations.webhooks.urls import UnsafeUrl, UrlPolicy, check, redacted
from server.models import Country, Webhook, WebhookEvent
from server.models.webhooks import FAILED, PENDING
from server.operations import audit
from server.web.auth import Principal
from server.web.errors import ApiError, validation_error
from server.web.pagination import paginate


def item(hook: Webhook) -> dict[str, Any]:
    return hook.item(redacted(hook.url))


def create(session: Session, principal: Principal, actor: audit.Actor, args: dict[str, Any],
           now: datetime) -> dict[str, Any]:
    countries = sorted({code.upper() for code in args["countries"]})
    for code in countries:
        principal.require_country(code)
    known = set(session.scalars(select(Country.code).where(Country.code.in_(countries))))
    if unknown := [code for code in countries if code not in known]:
        raise validation_error({"countries": [f"Unknown country {code}." for code in unknown]})
    try:
        check(args["url"], UrlPolicy.from_config(current_app.config))
    except UnsafeUrl as error:
        raise validation_error({"url": [str(error)]}) from None
    hook = Webhook(url=args["url"], secret=new_secret(), countries=countries, events=sorted(set(args["events"])),
                   active=True, dropped=0, created_by=principal.user_id, created_at=now)
    session.add(hook)
    session.flush()
    shown = item(hook)
    # The audit entry holds the redacted URL and never the secret.
    audit.record(session, actor, action="create", target_type="webhook", target_id=str(hook.id),
                 countries=countries, before=None, after={key: shown[key] for key in ("url", "countries", "events")},
                 now=now)
    return {**shown, "secret": hook.secret}


def _in_scope(principal: Principal, hook: Webhook) -> bool:
    return all(principal.can_see_country(code) for code in hook.countries)


def get(session: Session, principal: Principal, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id)
    if hook is None or not _in_scope(principal, hook):
        # The same answer for another country's webhook: its existence is not told.
        raise ApiError(404, "not_found", f"Unknown webhook {hook_id}.")
    return hook


def listing(session: Session, principal: Principal, args: dict[str, Any]) -> dict[str, Any]:
    hooks = [hook for hook in session.scalars(select(Webhook).order_by(Webhook.id)) if _in_scope(principal, hook)]
    return {"items": [item(hook) for hook in hooks], "next_cursor": None}


def remove(session: Session, principal: Principal, actor: audit.Actor, hook_id: int, now: datetime) -> None:
    hook = get(session, principal, hook_id)
    before = item(hook)
    # The webhook's row first, then its events: the order the worker's writes take them
    # (worker.py `_record`, routing.py). Deleting the events first deadlocked on PostgreSQL with a
    # worker recording outcomes of the same events (seen in bench/webhooks.py: a 500 on DELETE).
    session.execute(select(Webhook.id).where(Webhook.id == hook.id).with_for_update())
    # Its events go with it (a worker mid-delivery finds the rows gone and stops).
    session.execute(delete(WebhookEvent).where(WebhookEvent.webhook_id == hook.id))
    session.delete(hook)
    session.flush()
    audit.record(session, actor, action="delete", target_type="webhook", target_id=str(hook_id),
                 countries=before["countries"], before={key: before[key] for key in ("url", "countries", "events")},
                 after=None, now=now)


def deliveries(session: Session, principal: Principal, hook_id: int, args: dict[str, Any]) -> dict[str, Any]:
    hook = get(session, principal, hook_id)
    stmt = select(WebhookEvent).where(WebhookEvent.webhook_id == hook.id)
    if args.get("status"):
        stmt = stmt.where(WebhookEvent.status == args["status"])
    page = paginate(session, stmt, keys=(WebhookEvent.id,), limit=args["limit"], cursor=args["cursor"])
    return page.envelope([delivery_item(event) for (event,) in page.rows])


def delivery_item(event: WebhookEvent) -> dict[str, Any]:
    return {"id": event.event_id, "type": event.type, "record_id": event.record_id, "version": event.version,
            "status": event.status, "attempts": event.attempts, "last_status_code": event.last_status_code,
            "last_error": event.last_error, "created_at": event.created_at,
            "next_attempt_at": event.next_attempt_at if event.status == PENDING else None}


def retry(session: Session, principal: Principal, hook_id: int, event_id: str, now: datetime) -> None:
    """Queue a failed delivery again, at once, with a fresh retry window. A pending one is left as it is
    (it is queued already); a delivered one is a 409: sending it again is not a retry."""
    hook = get(session, principal, hook_id)
    event = session.scalar(select(WebhookEvent).where(WebhookEvent.webhook_id == hook.id,
                                                      WebhookEvent.event_id == event_id))
    if event is None:
        raise ApiError(404, "not_found", "Unknown delivery.")
    if event.status == PENDING:
        return
    if event.status != FAILED:
        raise ApiError(409, "already_delivered", "This delivery succeeded; only a failed one can be retried.")
    session.execute(update(WebhookEvent).where(WebhookEvent.id == event.id).values(
        status=PENDING, next_attempt_at=now, failing_since=None, finished_at=None))
    session.flush()
