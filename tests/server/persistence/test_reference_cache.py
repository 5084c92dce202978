"""The reference data a push checks against is cached per process, keyed by a stamp that database
triggers renew on every change (server/persistence/reference_cache.py, migration 0010). A stale cache would
count records at a site a coordinator deactivated, or refuse a service just added."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from server.models import Item, Record, Service, Site, Webhook, team_sites
from server.operations.reference import set_site_active
from server.persistence.reference_cache import read_stamp, reference_snapshot
from tests.factories import (
    EnrolledDevice,
    consultation_data,
    create_mutation,
    distribution_data,
    push_body,
    push_headers,
)

PUSH = "/api/v1/sync/push"
SITES = Site.__table__
ITEMS = Item.__table__
SERVICES = Service.__table__
HOOKS = Webhook.__table__
NEW_HOOK = {"id": 9001, "url": "https://example.org/hook", "secret": "whsec_x", "countries": ["LY"],
            "events": ["record.created"], "active": True, "dropped": 0, "created_at": datetime(2026, 1, 1)}

NEW_SITE = {"id": "ly-test-site", "area_id": "ly-tripoli", "name": "Test site", "site_type": "mobile_point",
            "active": True, "seq": 1}

# Each change a coordinator, the CLI, a migration or psql can make to the data a push checks.
CHANGES: dict[str, list[Any]] = {
    "sites": [insert(SITES).values(**NEW_SITE),
              update(SITES).where(SITES.c.id == NEW_SITE["id"]).values(active=False),
              delete(SITES).where(SITES.c.id == NEW_SITE["id"])],
    "team_sites": [insert(team_sites).values(team_id="ly-mmt-tripoli", site_id="ly-mp-benghazi"),
                   update(team_sites).where(team_sites.c.site_id == "ly-mp-benghazi",
                                            team_sites.c.team_id == "ly-mmt-tripoli").values(team_id="ly-mmt-tripoli"),
                   delete(team_sites).where(team_sites.c.site_id == "ly-mp-benghazi",
                                            team_sites.c.team_id == "ly-mmt-tripoli")],
    "services": [insert(SERVICES).values(code="nutrition", name="Nutrition", seq=1),
                 update(SERVICES).where(SERVICES.c.code == "nutrition").values(name="Nutrition screening"),
                 delete(SERVICES).where(SERVICES.c.code == "nutrition")],
    "items": [insert(ITEMS).values(code="kit-test", name="Test kit", category="hygiene_kit", seq=1),
              update(ITEMS).where(ITEMS.c.code == "kit-test").values(category="dignity_kit"),
              delete(ITEMS).where(ITEMS.c.code == "kit-test")],
    # Where a push's changes go (the webhook outbox's routes): which countries and events.
    "webhooks": [insert(HOOKS).values(**NEW_HOOK),
                 update(HOOKS).where(HOOKS.c.id == 9001).values(countries=["LY", "TN"]),
                 update(HOOKS).where(HOOKS.c.id == 9001).values(events=["record.voided"]),
                 delete(HOOKS).where(HOOKS.c.id == 9001)],
}


@pytest.mark.parametrize("table", sorted(CHANGES))
def test_every_insert_update_and_delete_of_checked_reference_data_renews_the_stamp(session: Session,
                                                                                    table: str) -> None:
    # Also fails if a later migration rebuilds one of these tables on SQLite (batch_alter_table
    # drops its triggers) without creating the triggers again.
    area = session.scalar(select(SITES.c.area_id).where(SITES.c.id == "ly-mp-tripoli"))
    NEW_SITE["area_id"] = area
    for statement in CHANGES[table]:
        before = read_stamp(session)
        session.execute(statement)
        after = read_stamp(session)
        assert before is not None and after is not None
        assert after != before, f"{statement} left the stamp as it was"


def test_the_delivery_workers_own_writes_to_webhooks_leave_the_stamp(session: Session) -> None:
    # The worker leases a webhook at every turn and counts dropped events: if that renewed the stamp,
    # every push would load the reference data again.
    session.execute(insert(HOOKS).values(**NEW_HOOK))
    stamp = read_stamp(session)
    session.execute(update(HOOKS).where(HOOKS.c.id == 9001).values(lease_owner="w", lease_until=datetime(2026, 1, 2)))
    session.execute(update(HOOKS).where(HOOKS.c.id == 9001).values(dropped=HOOKS.c.dropped + 1))
    assert read_stamp(session) == stamp
    snapshot = reference_snapshot(session, stamp)
    assert ("LY", "record.created") in snapshot.webhook_routes
    assert ("LY", "record.voided") not in snapshot.webhook_routes


def push(client: FlaskClient, device: EnrolledDevice, data: dict, entity: str = "consultation") -> dict:
    body = push_body([create_mutation(entity, data)])
    response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == 200, response.get_json()
    (result,) = response.get_json()["results"]
    return result


def test_a_push_after_a_reference_change_checks_against_the_changed_data(client: FlaskClient, session: Session,
                                                                         device: EnrolledDevice) -> None:
    # The first push loads and caches the snapshot; each change below must reach the next push.
    assert push(client, device, consultation_data())["status"] == "applied"
    set_site_active(session, "ly-mp-tripoli", False)
    session.commit()
    refused = push(client, device, consultation_data())
    assert refused["status"] == "rejected" and "data.site_id" in refused["errors"]

    # Misrata's site is another team's, and the service does not exist yet.
    misrata = {"site_id": "ly-mp-misrata", "service": "nutrition"}
    refused = push(client, device, consultation_data(**misrata))
    assert refused["status"] == "rejected" and {"data.site_id", "data.service"} <= set(refused["errors"])
    session.execute(insert(SERVICES).values(code="nutrition", name="Nutrition", seq=1))
    session.commit()
    refused = push(client, device, consultation_data(**misrata))
    assert refused["status"] == "rejected" and set(refused["errors"]) == {"data.site_id"}
    session.execute(insert(team_sites).values(team_id="ly-mmt-tripoli", site_id="ly-mp-misrata"))
    session.commit()
    assert push(client, device, consultation_data(**misrata))["status"] == "applied"
    session.execute(insert(ITEMS).values(code="kit-test", name="Test kit", category="hygiene_kit", seq=1))
    session.commit()
    applied = push(client, device, distribution_data(site_id="ly-mp-misrata", item_code="kit-test"),
                   entity="distribution")
    assert applied["status"] == "applied", applied
    assert session.get(Record, applied["id"]) is not None


def test_the_snapshot_is_reused_while_the_stamp_holds_and_reloaded_when_it_changes(session: Session) -> None:
    stamp = read_stamp(session)
    first = reference_snapshot(session, stamp)
    assert reference_snapshot(session, stamp) is first
    set_site_active(session, "ly-mp-tripoli", False)
    renewed = read_stamp(session)
    second = reference_snapshot(session, renewed)
    assert second is not first and second.stamp == renewed
    assert first.site_is_active("ly-mp-tripoli") and not second.site_is_active("ly-mp-tripoli")


def test_without_a_stamp_nothing_is_cached(session: Session) -> None:
    # A database not yet migrated to 0010 has no stamp: every batch reads reference data afresh.
    assert reference_snapshot(session, None) is not reference_snapshot(session, None)

