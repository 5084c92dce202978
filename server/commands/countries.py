"""`flask --app server reference add-country CODE --name NAME [--name-ar NAME]` and
`reference set-name-ar ENTITY KEY NAME`: country programmes and Arabic names at the server's shell.

They join the `reference` group of server/commands/reference.py and go through server/operations/admin.py,
like the API: an ISO 3166-1 alpha-2 code, a seq for tablets, an audit entry (actor `cli`).
"""

from __future__ import annotations

import click
from flask import Flask

from server.commands.cli import Refused
from server.commands.reference import group
from server.extensions import db
from server.operations import admin, statements
from server.operations.audit import CLI_ACTOR
from server.persistence.timeutil import utcnow
from server.web.errors import ApiError

_UPDATES = {
    "country": lambda key, name, now: admin.update_country(db.session, CLI_ACTOR, key, {"name_ar": name}, now),
    "area": lambda key, name, now: admin.update_area(db.session, None, CLI_ACTOR, key, {"name_ar": name}, now),
    "site": lambda key, name, now: admin.update_site(db.session, None, CLI_ACTOR, key, {"name_ar": name}, now),
    "team": lambda key, name, now: admin.update_team(db.session, None, CLI_ACTOR, key, {"name_ar": name}, now),
    "item": lambda key, name, now: admin.update_item(db.session, CLI_ACTOR, key, {"name_ar": name}, now),
    "service": lambda key, name, now: admin.update_service(db.session, CLI_ACTOR, key, {"name_ar": name}, now),
}


def _refused(error: ApiError) -> click.ClickException:
    db.session.rollback()
    return Refused(error)


def _clean(value: str, option: str, max_length: int = 100) -> str:
    value = value.strip()
    if not value or len(value) > max_length or not value.isprintable():
        raise click.BadParameter(f"use 1 to {max_length} printable characters", param_hint=option)
    return value


@group.command("add-country")
@click.argument("code")
@click.option("--name", required=True, help="The English name, e.g. Libya.")
@click.option("--name-ar", default=None, help="The Arabic name (default: CLDR's, e.g. ليبيا for LY).")
def add_country(code: str, name: str, name_ar: str | None) -> None:
    """Add a country programme. CODE is ISO 3166-1 alpha-2 (LY, TN, SD...)."""
    name = _clean(name, "--name")
    arabic = _clean(name_ar, "--name-ar") if name_ar is not None else admin.cldr_country_name(code.upper(), "ar")
    try:
        country = admin.create_country(db.session, CLI_ACTOR, code=code, name=name, name_ar=arabic, now=utcnow())
    except ApiError as error:
        raise _refused(error) from None
    db.session.commit()
    seeded = statements.statements_of(db.session, None, country.code)
    click.echo(f"country {country.code} added: {country.name} / {country.name_ar or '-'}")
    # Say where the public page's sentences came from and how to change them (issue 30 §2).
    click.echo(f"public page: {len(seeded)} default statements in English and Arabic "
               f"({', '.join(item['indicator'] for item in seeded)}); its numbers appear as records arrive. "
               f"Edit them on the dashboard or with `flask --app server statements list|set {country.code}`.")


@group.command("set-name-ar")
@click.argument("entity", type=click.Choice(sorted(_UPDATES)))
@click.argument("key")
@click.argument("name")
def set_name_ar(entity: str, key: str, name: str) -> None:
    """Give a reference row its Arabic name (shown on Arabic pages; tablets receive it as `name_ar`)."""
    try:
        _UPDATES[entity](key, _clean(name, "NAME", 150), utcnow())
    except ApiError as error:
        raise _refused(error) from None
    db.session.commit()
    click.echo(f"{entity} {key}: Arabic name set")


def register(app: Flask) -> None:
    """The commands are on the `reference` group already (registered by server.commands.reference)."""
