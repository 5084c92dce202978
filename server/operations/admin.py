"""Reference-data administration over the API (issue 15): countries, areas, sites, teams, items, services.

Plain functions over a session, like server/operations/accounts.py: they check scope, validate against the
database (unknown references 422 by field, duplicate ids 409), make the change through
server/operations/reference.py (so every change takes a seq from the one counter and tablets receive it in the
`reference` pull stream) and write an audit entry in the same transaction. `principal=None` is the
server's shell (CLI): every country.

Scope: a coordinator acts only in their countries. A row of another country is 403 `out_of_scope`
(as `/teams/<id>/enrollments` answers), an unknown id 404.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from babel import Locale
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Area, Country, Item, Record, Service, Site, Team
from server.operations import audit, reference, statements
from server.operations.audit import Actor
from server.persistence.seq import next_seq
from server.web.auth import Principal
from server.web.errors import ApiError, validation_error
from server.web.pagination import paginate

M = TypeVar("M", bound=db.Model)  # type: ignore[name-defined]

# ISO 3166-1 alpha-2 codes, from CLDR (Babel): its two-letter territories less the groupings and
# private-use codes that are not countries. XK (Kosovo, user-assigned) stays: UN agencies use it.
_NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}


@functools.cache
def iso_countries() -> frozenset[str]:
    # Loaded on first use, not at import: CLDR's tables would slow every worker's start.
    return frozenset(code for code in Locale("en").territories
                     if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES)


def cldr_country_name(code: str, language: str) -> str | None:
    """The country's name in `language` from CLDR, e.g. ("LY", "ar") -> "ليبيا"."""
    return Locale(language).territories.get(code)


# --- helpers -----------------------------------------------------------------------------------


def _plausible(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isprintable()


def _get(session: Session, model: type[M], key: str, what: str) -> M:
    row = session.get(model, key) if _plausible(key) else None
    if row is None:
        raise ApiError(404, "not_found", f"Unknown {what} {key}." if _plausible(key) else f"Unknown {what}.")
    return row


def _require(principal: Principal | None, country: str) -> None:
    if principal is not None:
        principal.require_country(country)


def _conflict(what: str, key: str) -> ApiError:
    return ApiError(409, "already_exists", f"A {what} with id {key} already exists.")


def _insert(session: Session, model: type[M], key: str, what: str, **fields: Any) -> M:
    """Create a row; a duplicate id is a 409, also when a concurrent request created it first
    (the unique key refuses the INSERT: caught inside a savepoint, so the transaction goes on)."""
    if session.get(model, key) is not None:
        raise _conflict(what, key)
    try:
        with session.begin_nested():
            return reference.create(session, model, key, **fields)
    except IntegrityError:
        raise _conflict(what, key) from None


def _fields(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


COUNTRY_FIELDS = ("code", "name", "name_ar")
AREA_FIELDS = ("id", "country_code", "name", "name_ar", "pcode")
SITE_FIELDS = ("id", "area_id", "name", "name_ar", "site_type", "active")
TEAM_FIELDS = ("id", "country_code", "name", "name_ar", "team_type", "active")
ITEM_FIELDS = ("code", "name", "name_ar", "category")
SERVICE_FIELDS = ("code", "name", "name_ar")


def _edit(session: Session, actor: Actor, *, target_type: str, row: Any, key: str, names: tuple[str, ...],
          countries: list[str | None], changes: dict[str, Any], now: datetime,
          extra: Callable[[], bool] | None = None) -> bool:
    """Apply `changes` (and `extra`, e.g. a team's sites) to a row; one seq and one audit entry if anything changed."""
    before = _fields(row, names)
    if target_type == "team":
        before["site_ids"] = row.site_ids
    changed = any(getattr(row, name) != value for name, value in changes.items())
    if changed:
        for name, value in changes.items():
            setattr(row, name, value)
        row.seq = next_seq(session)
        session.flush()
    if extra is not None:
        changed = extra() or changed
    if changed:
        after = _fields(row, names)
        if target_type == "team":
            after["site_ids"] = row.site_ids
        audit.record(session, actor, action="update", target_type=target_type, target_id=key, countries=countries,
                     before=before, after=after, now=now)
    return changed


def _created(session: Session, actor: Actor, target_type: str, row: Any, key: str, names: tuple[str, ...],
             countries: list[str | None], now: datetime, extra: dict[str, Any] | None = None) -> None:
    after = {**_fields(row, names), **(extra or {})}
    if target_type == "team":
        after["site_ids"] = row.site_ids
    audit.record(session, actor, action="create", target_type=target_type, target_id=key, countries=countries,
                 before=None, after=after, now=now)


def _page(session: Session, stmt: Any, key: Any, args: dict[str, Any], item: Callable[[Any], dict[str, Any]]
          ) -> dict[str, Any]:
    page = paginate(session, stmt, keys=(key,), limit=args["limit"], cursor=args["cursor"], descending=False)
    return page.envelope([item(row) for (row,) in page.rows])


# --- countries ---------------------------------------------------------------------------------


def country_item(country: Country) -> dict[str, Any]:
    return {"code": country.code, "name": country.name, "name_ar": country.name_ar}


def countries_page(session: Session, principal: Principal, args: dict[str, Any]) -> dict[str, Any]:
    stmt = select(Country)
    if principal.countries is not None:
        stmt = stmt.where(Country.code.in_(sorted(principal.countries)))
    return _page(session, stmt, Country.code, args, country_item)


def create_country(session: Session, actor: Actor, *, code: str, name: str, name_ar: str | None,
                   now: datetime) -> Country:
    """A new country programme (admins and the CLI only). `code` must be ISO 3166-1 alpha-2."""
    code = code.strip().upper()
    if code not in iso_countries():
        raise validation_error({"code": [f"{code or '(empty)'} is not an ISO 3166-1 alpha-2 country code."]})
    country = _insert(session, Country, code, "country", code=code, name=name, name_ar=name_ar)
    # Its public page shows numbers as soon as records arrive, not "No figures are published". One act,
    # one audit entry: the seeded statements are part of the country's `create` entry.
    seeded = statements.seed_defaults(session, code)
    _created(session, actor, "country", country, code, COUNTRY_FIELDS, [code], now, extra={"statements": seeded})
    return country


def update_country(session: Session, actor: Actor, code: str, changes: dict[str, Any], now: datetime) -> Country:
    country = _get(session, Country, code.upper(), "country")
    _edit(session, actor, target_type="country", row=country, key=country.code, names=COUNTRY_FIELDS,
          countries=[country.code], changes=changes, now=now)
    return country


# --- areas -------------------------------------------------------------------------------------


def area_item(area: Area) -> dict[str, Any]:
    return {"id": area.id, "country": area.country_code, "name": area.name, "name_ar": area.name_ar,
            "pcode": area.pcode}


def _scoped_countries(principal: Principal, country: str | None) -> list[str] | None:
    """The countries a list covers: the one asked (if in scope), else every country in scope."""
    if country is not None:
        principal.require_country(country.upper())
        return [country.upper()]
    return None if principal.countries is None else sorted(principal.countries)


def areas_page(session: Session, principal: Principal, args: dict[str, Any]) -> dict[str, Any]:
    stmt = select(Area)
    countries = _scoped_countries(principal, args.get("country"))
    if countries is not None:
        stmt = stmt.where(Area.country_code.in_(countries))
    return _page(session, stmt, Area.id, args, area_item)


def _known_country(session: Session, principal: Principal | None, code: str, field: str = "country") -> str:
    code = code.upper()
    if session.get(Country, code) is None:
        raise validation_error({field: [f"Unknown country {code}."]})
    _require(principal, code)
    return code


def create_area(session: Session, principal: Principal | None, actor: Actor, *, area_id: str, country: str,
                name: str, name_ar: str | None, pcode: str | None, now: datetime) -> Area:
    country = _known_country(session, principal, country)
    area = _insert(session, Area, area_id, "area", id=area_id, country_code=country, name=name, name_ar=name_ar,
                            pcode=pcode)
    _created(session, actor, "area", area, area_id, AREA_FIELDS, [country], now)
    return area


def update_area(session: Session, principal: Principal | None, actor: Actor, area_id: str, changes: dict[str, Any],
                now: datetime) -> Area:
    area = _get(session, Area, area_id, "area")
    _require(principal, area.country_code)
    _edit(session, actor, target_type="area", row=area, key=area.id, names=AREA_FIELDS,
          countries=[area.country_code], changes=changes, now=now)
    return area


# --- sites -------------------------------------------------------------------------------------


def site_item(site: Site) -> dict[str, Any]:
    return {"id": site.id, "area_id": site.area_id, "country": site.area.country_code, "name": site.name,
            "name_ar": site.name_ar, "site_type": site.site_type, "active": site.active}


def sites_page(session: Session, principal: Principal, args: dict[str, Any]) -> dict[str, Any]:
    stmt = select(Site).join(Area, Area.id == Site.area_id)
    countries = _scoped_countries(principal, args.get("country"))
    if countries is not None:
        stmt = stmt.where(Area.country_code.in_(countries))
    return _page(session, stmt, Site.id, args, site_item)


def _area_in_scope(session: Session, principal: Principal | None, area_id: str) -> Area:
    area = session.get(Area, area_id) if _plausible(area_id) else None
    if area is None:
        raise validation_error({"area_id": [f"Unknown area {area_id}."]})
    _require(principal, area.country_code)
    return area


def create_site(session: Session, principal: Principal | None, actor: Actor, *, site_id: str, area_id: str,
                name: str, name_ar: str | None, site_type: str, now: datetime) -> Site:
    area = _area_in_scope(session, principal, area_id)
    site = _insert(session, Site, site_id, "site", id=site_id, area_id=area.id, name=name, name_ar=name_ar,
                            site_type=site_type, active=True)
    _created(session, actor, "site", site, site_id, SITE_FIELDS, [area.country_code], now)
    return site


def _site_in_scope(session: Session, principal: Principal | None, site_id: str) -> Site:
    site = _get(session, Site, site_id, "site")
    _require(principal, site.area.country_code)
    return site


def update_site(session: Session, principal: Principal | None, actor: Actor, site_id: str, changes: dict[str, Any],
                now: datetime) -> Site:
    site = _site_in_scope(session, principal, site_id)
    country = site.area.country_code
    if "area_id" in changes:
        area = _area_in_scope(session, principal, changes["area_id"])
        if area.country_code != country:
            # Tablets of the old country would keep a row that left their scope: delete and add anew.
            message = f"Area {area.id} is in {area.country_code}; the site is in {country}."
            raise validation_error({"area_id": [message]})
    _edit(session, actor, target_type="site", row=site, key=site.id, names=SITE_FIELDS, countries=[country],
          changes=changes, now=now)
    return site


def set_site_active(session: Session, principal: Principal | None, actor: Actor, site_id: str, active: bool,
                    now: datetime) -> Site:
    """Tablets receive a deactivated site as `remove`; its records stay and stay counted."""
    site = _site_in_scope(session, principal, site_id)
    before = _fields(site, SITE_FIELDS)
    if reference.set_site_active(session, site.id, active):
        records = session.scalar(select(func.count()).select_from(Record).where(Record.site_id == site.id))
        audit.record(session, actor, action="activate" if active else "deactivate", target_type="site",
                     target_id=site.id, countries=[site.area.country_code], before=before,
                     after={**_fields(site, SITE_FIELDS), "records_kept": records}, now=now)
    return site


# --- teams -------------------------------------------------------------------------------------


def team_item(team: Team) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "name_ar": team.name_ar, "team_type": team.team_type,
            "country": team.country_code, "site_ids": team.site_ids, "active": team.active}


def _check_sites(session: Session, country: str, site_ids: list[str]) -> list[str]:
    problems = []
    for site_id in site_ids:
        site = session.get(Site, site_id) if _plausible(site_id) else None
        if site is None:
            problems.append(f"Unknown site {site_id}." if _plausible(site_id) else "Unknown site.")
        elif site.area.country_code != country:
            problems.append(f"Site {site_id} is in {site.area.country_code}, not in {country}.")
    if problems:
        raise validation_error({"site_ids": problems})
    return sorted(set(site_ids))


def create_team(session: Session, principal: Principal | None, actor: Actor, *, team_id: str, country: str,
                name: str, name_ar: str | None, team_type: str, site_ids: list[str], now: datetime) -> Team:
    country = _known_country(session, principal, country)
    sites = _check_sites(session, country, site_ids)
    team = _insert(session, Team, team_id, "team", id=team_id, country_code=country, name=name, name_ar=name_ar,
                            team_type=team_type, active=True)
    reference.set_team_sites(session, team, sites)
    _created(session, actor, "team", team, team_id, TEAM_FIELDS, [country], now)
    return team


def _team_in_scope(session: Session, principal: Principal | None, team_id: str) -> Team:
    team = _get(session, Team, team_id, "team")
    _require(principal, team.country_code)
    return team


def update_team(session: Session, principal: Principal | None, actor: Actor, team_id: str, changes: dict[str, Any],
                now: datetime) -> Team:
    """Change a team's fields and/or its sites (`site_ids` replaces the whole list)."""
    team = _team_in_scope(session, principal, team_id)
    changes = dict(changes)
    site_ids = changes.pop("site_ids", None)
    sites = _check_sites(session, team.country_code, site_ids) if site_ids is not None else None
    _edit(session, actor, target_type="team", row=team, key=team.id, names=TEAM_FIELDS, countries=[team.country_code],
          changes=changes, now=now,
          extra=(lambda: reference.set_team_sites(session, team, sites)) if sites is not None else None)
    return team


def set_team_active(session: Session, principal: Principal | None, actor: Actor, team_id: str, active: bool,
                    now: datetime) -> Team:
    """Tablets receive a deactivated team as `remove`; no new enrollment; its records stay counted."""
    team = _team_in_scope(session, principal, team_id)
    if team.active != active:
        before = _fields(team, TEAM_FIELDS)
        team.active = active
        team.seq = next_seq(session)
        session.flush()
        audit.record(session, actor, action="activate" if active else "deactivate", target_type="team",
                     target_id=team.id, countries=[team.country_code], before=before,
                     after=_fields(team, TEAM_FIELDS), now=now)
    return team


# --- items and services (shared by every country: admins only) ---------------------------------


def item_item(item: Item) -> dict[str, Any]:
    return {"code": item.code, "name": item.name, "name_ar": item.name_ar, "category": item.category}


def service_item(service: Service) -> dict[str, Any]:
    return {"code": service.code, "name": service.name, "name_ar": service.name_ar}


def items_page(session: Session, args: dict[str, Any]) -> dict[str, Any]:
    return _page(session, select(Item), Item.code, args, item_item)


def services_page(session: Session, args: dict[str, Any]) -> dict[str, Any]:
    return _page(session, select(Service), Service.code, args, service_item)


def create_item(session: Session, actor: Actor, *, code: str, name: str, name_ar: str | None, category: str,
                now: datetime) -> Item:
    item = _insert(session, Item, code, "item", code=code, name=name, name_ar=name_ar, category=category)
    _created(session, actor, "item", item, code, ITEM_FIELDS, [], now)
    return item


def update_item(session: Session, actor: Actor, code: str, changes: dict[str, Any], now: datetime) -> Item:
    item = _get(session, Item, code, "item")
    _edit(session, actor, target_type="item", row=item, key=item.code, names=ITEM_FIELDS, countries=[],
          changes=changes, now=now)
    return item


def create_service(session: Session, actor: Actor, *, code: str, name: str, name_ar: str | None,
                   now: datetime) -> Service:
    service = _insert(session, Service, code, "service", code=code, name=name, name_ar=name_ar)
    _created(session, actor, "service", service, code, SERVICE_FIELDS, [], now)
    return service


def update_service(session: Session, actor: Actor, code: str, changes: dict[str, Any], now: datetime) -> Service:
    service = _get(session, Service, code, "service")
    _edit(session, actor, target_type="service", row=service, key=service.code, names=SERVICE_FIELDS, countries=[],
          changes=changes, now=now)
    return service
