"""The reference data a push checks records against, cached per process by its stamp.

Every push and every OpenRosa submission checks its records' site (of the device's team, active),
service and item against reference data that changes a few times a month. Reading it took two or
three statements per request, an eighth of a one-record submission's time.

The snapshot also says where a write's changes go: which (country, event) pairs some webhook asks
for, so the webhook outbox writes a change only when it is wanted, without reading `webhooks` in
every write (server/integrations/webhooks/outbox.py), and each site's area and type, which the
outbox's body shows.

Database triggers (migrations 0010, 0018) give that data a new random stamp, kept in `seq_counter`
under the name `reference`, in the same transaction as any change to `sites`, `team_sites`,
`services`, `items` or a webhook's countries and events, whoever makes it. A request reads the
stamp (one indexed row, folded into a query it makes anyway where it can) and uses this process's
snapshot when it carries the same stamp, else loads a new one.
So a site a coordinator deactivates through one worker is refused by the next request in
every worker.

The stamp is read before the data: under PostgreSQL's READ COMMITTED the data may then be newer
than its stamp, never older, and a newer stamp makes the next request load again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Item, SeqCounter, Service, Site, Webhook, team_sites

STAMP_NAME = "reference"

# For a caller's own query: `select(..., STAMP)` reads the stamp with its row.
STAMP = select(SeqCounter.value).where(SeqCounter.name == STAMP_NAME).scalar_subquery().label("reference_stamp")
_READ_STAMP = select(STAMP)
_TEAM_SITES = select(team_sites.c.team_id, team_sites.c.site_id)
_SITES = select(Site.id, Site.active, Site.area_id, Site.site_type)
_SERVICES = select(Service.code)
_ITEMS = select(Item.code, Item.category)
# Paused webhooks too: the changes they miss are counted when the worker routes them.
_WEBHOOKS = select(Webhook.countries, Webhook.events)


@dataclass(frozen=True)
class ReferenceSnapshot:
    stamp: int | None
    team_sites: Mapping[str, frozenset[str]]
    site_active: Mapping[str, bool]
    services: frozenset[str]
    item_categories: Mapping[str, str]
    # site id -> (area id, site type)
    site_places: Mapping[str, tuple[str, str]]
    # (country, event type) pairs at least one webhook asks for
    webhook_routes: frozenset[tuple[str, str]]

    def site_belongs_to_team(self, site_id: str, team_id: str) -> bool:
        return site_id in self.team_sites.get(team_id, ())

    def site_is_active(self, site_id: str) -> bool:
        return self.site_active.get(site_id, False)


# One snapshot per database (tests run SQLite and PostgreSQL apps in one process). Replacing a
# dict entry is atomic, so the worker's threads need no lock: at worst two load the same snapshot.
_snapshots: dict[str, ReferenceSnapshot] = {}


def read_stamp(session: Session) -> int | None:
    return session.execute(_READ_STAMP).scalar()


def reference_snapshot(session: Session, stamp: int | None) -> ReferenceSnapshot:
    """The reference data as of `stamp` (read by the caller in its transaction, before this)."""
    key = session.get_bind().engine.url.render_as_string(hide_password=True)
    cached = _snapshots.get(key)
    if stamp is not None and cached is not None and cached.stamp == stamp:
        return cached
    snapshot = _load(session, stamp)
    if stamp is not None:  # no stamp row (a database not migrated to 0010): never cached
        _snapshots[key] = snapshot
    return snapshot


def _load(session: Session, stamp: int | None) -> ReferenceSnapshot:
    members: dict[str, set[str]] = {}
    for team_id, site_id in session.execute(_TEAM_SITES):
        members.setdefault(team_id, set()).add(site_id)
    site_rows = session.execute(_SITES).all()
    return ReferenceSnapshot(
        stamp=stamp,
        team_sites={team_id: frozenset(sites) for team_id, sites in members.items()},
        site_active={site.id: bool(site.active) for site in site_rows},
        services=frozenset(session.scalars(_SERVICES)),
        item_categories=dict(session.execute(_ITEMS).all()),
        site_places={site.id: (site.area_id, site.site_type) for site in site_rows},
        webhook_routes=frozenset((country, event) for countries, events in session.execute(_WEBHOOKS)
                                 for country in countries for event in events),
    )
