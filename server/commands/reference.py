"""Reference data edits by admins (`flask --app server reference ...`).

Every edit goes through server.operations.reference, so it takes its seq from the one server counter and
tablets receive it in the `reference` pull stream (a deactivated or deleted row as `remove`).
Each command is one transaction: it commits on success and changes nothing on failure, and leaves one
audit entry (actor `cli`, the command as the action, the row as the target) in that transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from server.commands.params import COUNTRY_CODE, PCODE, REFERENCE_ID, Name
from server.extensions import db
from server.models import Area, Country, Item, Service, Site, Team
from server.operations import audit, reference
from server.persistence.timeutil import utcnow
from sync import codes

ENTITIES: dict[str, type] = {"country": Country, "area": Area, "site": Site, "team": Team, "item": Item,
                             "service": Service}

# The name columns' lengths (server/models/reference.py).
AREA_NAME = Name(100)
NAME = Name(150)

group = AppGroup("reference", help="Edit reference data (areas, sites, teams, items, services).")


def _run(edit: Callable[[], str]) -> None:
    """Run one edit as one transaction; report its outcome or refuse with the reason."""
    try:
        message = edit()
    except reference.ReferenceEditError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    _audit()
    db.session.commit()
    click.echo(message)


def _audit() -> None:
    """The command's audit entry, from its own name and parameters (every command here names its row
    by its first argument; `delete` by its entity and key)."""
    ctx = click.get_current_context()
    params = {name: list(value) if isinstance(value, tuple) else value for name, value in ctx.params.items()}
    command = ctx.command.name or "reference"
    key_name = next(param.name for param in ctx.command.params
                    if isinstance(param, click.Argument) and param.name != "entity")
    target_type = params.get("entity") or command.split("-", 1)[-1]
    country = params.get("country")
    audit.record(db.session, audit.CLI_ACTOR, action=command, target_type=str(target_type),
                 target_id=str(params[key_name]), countries=[country] if isinstance(country, str) else [],
                 before=None, after=params, now=utcnow())


def _given(**fields: Any) -> dict[str, Any]:
    """Only the options the admin passed: an update leaves the others as they are."""
    return {name: value for name, value in fields.items() if value is not None}


def _changed(what: str, changed: bool) -> str:
    return f"{what} updated" if changed else f"{what} unchanged"


# --- areas -----------------------------------------------------------------------------------
@group.command("add-area")
@click.argument("area_id", type=REFERENCE_ID)
@click.option("--country", required=True, type=COUNTRY_CODE, help="ISO code of the country programme, e.g. LY.")
@click.option("--name", type=AREA_NAME, required=True)
@click.option("--pcode", default=None, type=PCODE, help="OCHA P-code.")
def add_area(area_id: str, country: str, name: str, pcode: str | None) -> None:
    def edit() -> str:
        if db.session.get(Country, country) is None:
            raise reference.ReferenceEditError(f"country {country!r} does not exist")
        reference.create(db.session, Area, area_id, id=area_id, country_code=country, name=name, pcode=pcode)
        return f"area {area_id} added"

    _run(edit)


@group.command("update-area")
@click.argument("area_id", type=REFERENCE_ID)
@click.option("--name", type=AREA_NAME, default=None)
@click.option("--pcode", default=None, type=PCODE)
def update_area(area_id: str, name: str | None, pcode: str | None) -> None:
    _run(lambda: _changed(f"area {area_id}", reference.update(db.session, Area, area_id,
                                                                 **_given(name=name, pcode=pcode))[1]))


# --- sites -----------------------------------------------------------------------------------
@group.command("add-site")
@click.argument("site_id", type=REFERENCE_ID)
@click.option("--area", "area_id", required=True, type=REFERENCE_ID)
@click.option("--name", type=NAME, required=True)
@click.option("--type", "site_type", required=True, type=click.Choice(codes.SITE_TYPES))
def add_site(site_id: str, area_id: str, name: str, site_type: str) -> None:
    def edit() -> str:
        reference.site_country(db.session, area_id)  # the area must exist
        reference.create(db.session, Site, site_id, id=site_id, area_id=area_id, name=name, site_type=site_type,
                         active=True)
        return f"site {site_id} added"

    _run(edit)


@group.command("update-site")
@click.argument("site_id", type=REFERENCE_ID)
@click.option("--area", "area_id", default=None, type=REFERENCE_ID)
@click.option("--name", type=NAME, default=None)
@click.option("--type", "site_type", default=None, type=click.Choice(codes.SITE_TYPES))
def update_site(site_id: str, area_id: str | None, name: str | None, site_type: str | None) -> None:
    def edit() -> str:
        site = db.session.get(Site, site_id)
        if site is None:
            raise reference.ReferenceEditError(f"site {site_id!r} does not exist")
        if area_id is not None:
            reference.check_same_country(reference.site_country(db.session, site.area_id),
                                         reference.site_country(db.session, area_id), f"site {site_id}")
        fields = _given(area_id=area_id, name=name, site_type=site_type)
        return _changed(f"site {site_id}", reference.update(db.session, Site, site_id, **fields)[1])

    _run(edit)


@group.command("deactivate-site")
@click.argument("site_id", type=REFERENCE_ID)
def deactivate_site(site_id: str) -> None:
    """Tablets receive it as `remove` and may no longer record there."""
    _run(lambda: _changed(f"site {site_id}", reference.set_site_active(db.session, site_id, False)))


@group.command("activate-site")
@click.argument("site_id", type=REFERENCE_ID)
def activate_site(site_id: str) -> None:
    _run(lambda: _changed(f"site {site_id}", reference.set_site_active(db.session, site_id, True)))


# --- teams -----------------------------------------------------------------------------------
def _check_sites(country: str, site_ids: list[str]) -> None:
    for site_id in site_ids:
        site = db.session.get(Site, site_id)
        if site is None:
            raise reference.ReferenceEditError(f"site {site_id!r} does not exist")
        reference.check_same_country(reference.site_country(db.session, site.area_id), country,
                                     f"site {site_id} (of a {country} team)")


@group.command("add-team")
@click.argument("team_id", type=REFERENCE_ID)
@click.option("--country", required=True, type=COUNTRY_CODE)
@click.option("--name", type=NAME, required=True)
@click.option("--type", "team_type", required=True, type=click.Choice(codes.TEAM_TYPES))
@click.option("--site", "site_ids", multiple=True, type=REFERENCE_ID, help="A site of the team (repeat the option).")
def add_team(team_id: str, country: str, name: str, team_type: str, site_ids: tuple[str, ...]) -> None:
    def edit() -> str:
        if db.session.get(Country, country) is None:
            raise reference.ReferenceEditError(f"country {country!r} does not exist")
        _check_sites(country, list(site_ids))
        team = reference.create(db.session, Team, team_id, id=team_id, country_code=country, name=name,
                                team_type=team_type)
        reference.set_team_sites(db.session, team, list(site_ids))
        return f"team {team_id} added"

    _run(edit)


@group.command("update-team")
@click.argument("team_id", type=REFERENCE_ID)
@click.option("--name", type=NAME, default=None)
@click.option("--type", "team_type", default=None, type=click.Choice(codes.TEAM_TYPES))
@click.option("--site", "site_ids", multiple=True, type=REFERENCE_ID,
              help="The team's sites, all of them (replaces the list).")
def update_team(team_id: str, name: str | None, team_type: str | None, site_ids: tuple[str, ...]) -> None:
    def edit() -> str:
        team, changed = reference.update(db.session, Team, team_id, **_given(name=name, team_type=team_type))
        if site_ids:
            _check_sites(team.country_code, list(site_ids))
            changed = reference.set_team_sites(db.session, team, list(site_ids)) or changed
        return _changed(f"team {team_id}", changed)

    _run(edit)


# --- items and services ----------------------------------------------------------------------
@group.command("add-item")
@click.argument("code", type=REFERENCE_ID)
@click.option("--name", type=NAME, required=True)
@click.option("--category", required=True, type=click.Choice(codes.ITEM_CATEGORIES))
def add_item(code: str, name: str, category: str) -> None:
    def edit() -> str:
        reference.create(db.session, Item, code, code=code, name=name, category=category)
        return f"item {code} added"

    _run(edit)


@group.command("update-item")
@click.argument("code", type=REFERENCE_ID)
@click.option("--name", type=NAME, default=None)
@click.option("--category", default=None, type=click.Choice(codes.ITEM_CATEGORIES))
def update_item(code: str, name: str | None, category: str | None) -> None:
    _run(lambda: _changed(f"item {code}", reference.update(db.session, Item, code,
                                                              **_given(name=name, category=category))[1]))


@group.command("add-service")
@click.argument("code", type=REFERENCE_ID)
@click.option("--name", type=NAME, required=True)
def add_service(code: str, name: str) -> None:
    def edit() -> str:
        reference.create(db.session, Service, code, code=code, name=name)
        return f"service {code} added"

    _run(edit)


@group.command("update-service")
@click.argument("code", type=REFERENCE_ID)
@click.option("--name", type=NAME, default=None)
def update_service(code: str, name: str | None) -> None:
    _run(lambda: _changed(f"service {code}", reference.update(db.session, Service, code, **_given(name=name))[1]))


# --- delete ----------------------------------------------------------------------------------
@group.command("delete")
@click.argument("entity", type=click.Choice(sorted(ENTITIES)))
@click.argument("key")
def delete(entity: str, key: str) -> None:
    """Delete a row; tablets receive `remove`. Refused while the row is in use."""
    _run(lambda: f"{entity} {key} deleted (seq {reference.delete(db.session, ENTITIES[entity], key)})")


def register(app: Flask) -> None:
    app.cli.add_command(group)
