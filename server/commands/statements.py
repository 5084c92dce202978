"""Public impact statements of a country (`flask --app server statements list|set|remove`).

    flask --app server statements list LY
    flask --app server statements set LY 1 --indicator health_consultations \\
        --filter population_group=refugee,asylum_seeker,migrant,idp \\
        --text "health consultations were provided to refugees, migrants, and IDPs in {year}"
    flask --app server statements set LY 2 --text "people received hygiene kits in {year}"
    flask --app server statements remove LY 3

A statement is refused unless the public page could publish it (server.operations.public.statement_problems
and a trial `aggregate` over the filters), so a typo never reaches the website as a missing line.
Each command is one transaction: it commits on success and changes nothing on failure.
"""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from server.extensions import db
from server.models import Country, ImpactStatement
from server.operations import audit
from server.operations.public import fill_year
from server.operations.statements import statement_errors
from server.persistence.timeutil import utcnow

group = AppGroup("statements", help="Edit the public impact statements of a country.")


def _country(code: str) -> str:
    canonical = code.upper()
    if db.session.get(Country, canonical) is None:
        raise click.ClickException(f"country {code!r} does not exist")
    return canonical


def _statement(country: str, position: int) -> ImpactStatement | None:
    return db.session.scalar(select(ImpactStatement).where(ImpactStatement.country_code == country,
                                                            ImpactStatement.position == position))


def _parse_filters(pairs: tuple[str, ...]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, values = pair.partition("=")
        codes = [value.strip() for value in values.split(",") if value.strip()]
        if not sep or not name.strip() or not codes:
            raise click.BadParameter(f"{pair!r}: expected DIMENSION=CODE[,CODE...]", param_hint="--filter")
        if name.strip() in filters:
            raise click.BadParameter(f"{name.strip()!r} given twice", param_hint="--filter")
        filters[name.strip()] = codes
    return filters


def _check(country: str, indicator: str, filters: dict[str, list[str]], text: str, text_ar: str | None) -> None:
    errors = statement_errors(db.session, country, {"indicator": indicator, "filters": filters, "text": text,
                                                    "text_ar": text_ar})
    if errors:
        raise click.ClickException("; ".join(message for messages in errors.values() for message in messages))


@group.command("list")
@click.argument("country")
def list_statements(country: str) -> None:
    """Show a country's statements in page order."""
    code = _country(country)
    rows = db.session.scalars(select(ImpactStatement).where(ImpactStatement.country_code == code)
                              .order_by(ImpactStatement.position)).all()
    if not rows:
        click.echo(f"{code} has no statements")
    for row in rows:
        filters = json.dumps(row.filters or {}, sort_keys=True)
        click.echo(f"{row.position}\t{row.indicator}\t{filters}\t{row.text}")


@group.command("set")
@click.argument("country")
@click.argument("position", type=click.IntRange(min=1))
@click.option("--indicator", default=None, help="Indicator code, e.g. health_consultations.")
@click.option("--filter", "filter_pairs", multiple=True, metavar="DIMENSION=CODE[,CODE...]",
              help="Replaces all filters; repeat for several dimensions.")
@click.option("--no-filters", is_flag=True, help="Count everything in the country (removes the filters).")
@click.option("--text", default=None, help="The sentence after the number; `{year}` is replaced by the year.")
@click.option("--text-ar", default=None, help="The Arabic sentence (shown with ?lang=ar); an empty value removes it.")
def set_statement(country: str, position: int, indicator: str | None, filter_pairs: tuple[str, ...],
                  no_filters: bool, text: str | None, text_ar: str | None) -> None:
    """Create the statement at POSITION, or change the fields given of the one there."""
    code = _country(country)
    if filter_pairs and no_filters:
        raise click.UsageError("--filter and --no-filters exclude each other")
    row = _statement(code, position)
    if row is None and (indicator is None or text is None):
        raise click.UsageError(f"{code} has no statement {position}: a new one needs --indicator and --text")
    new_indicator = indicator if indicator is not None else row.indicator  # type: ignore[union-attr]
    new_text = text if text is not None else row.text  # type: ignore[union-attr]
    if filter_pairs:
        new_filters = _parse_filters(filter_pairs)
    elif no_filters or row is None:
        new_filters = {}
    else:
        new_filters = dict(row.filters or {})
    new_text_ar = row.text_ar if row is not None and text_ar is None else (text_ar or None)
    _check(code, new_indicator, new_filters, new_text, new_text_ar)
    if row is None:
        row = ImpactStatement(country_code=code, position=position)
        db.session.add(row)
        verb = "added"
    else:
        verb = "updated"
    row.indicator, row.filters, row.text, row.text_ar = new_indicator, new_filters, new_text, new_text_ar
    audit.record(db.session, audit.CLI_ACTOR, action=f"statement_{verb}", target_type="statement",
                 target_id=f"{code}/{position}", countries=[code], before=None,
                 after={"indicator": new_indicator, "filters": new_filters, "text": new_text,
                        "text_ar": new_text_ar}, now=utcnow())
    db.session.commit()
    click.echo(f"{code} statement {position} {verb}: {new_indicator} {json.dumps(new_filters, sort_keys=True)} "
               f"\"{fill_year(new_text, utcnow().year)}\"")


@group.command("remove")
@click.argument("country")
@click.argument("position", type=click.IntRange(min=1))
def remove_statement(country: str, position: int) -> None:
    """Delete the statement at POSITION (the others keep their positions)."""
    code = _country(country)
    row = _statement(code, position)
    if row is None:
        raise click.ClickException(f"{code} has no statement {position}")
    db.session.delete(row)
    audit.record(db.session, audit.CLI_ACTOR, action="statement_removed", target_type="statement",
                 target_id=f"{code}/{position}", countries=[code],
                 before={"indicator": row.indicator, "text": row.text}, after=None, now=utcnow())
    db.session.commit()
    click.echo(f"{code} statement {position} removed")


def register(app: Flask) -> None:
    app.cli.add_command(group)
