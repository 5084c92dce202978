"""`flask --app server dhis2 export|push`: a country's months for DHIS2 (api.md "Additions (v1.1)").

    flask --app server dhis2 export --country LY --period 201601 [--period 201602 ...] [--format json|adx]
    flask --app server dhis2 push --country LY --period 201601 [--dry-run]

`export` writes the payload to stdout. `push` posts the JSON payload to DHIS2 (configured by the
environment, see client.py) with importStrategy=CREATE_AND_UPDATE, prints the ImportSummary, and
exits 1 when DHIS2 reports ERROR (or cannot be reached). Pushing a month again sends the same
payload, so DHIS2 reports it `updated`/`ignored`, never doubled. `--dry-run` asks DHIS2 to
validate without saving (its `dryRun=true`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from server.extensions import db
from server.integrations.dhis2 import client, mapping, payload

_country = click.option("--country", required=True, help="Country code, e.g. LY.")
_period = click.option("--period", "periods", required=True, multiple=True, help="Month as yyyyMM (repeatable).")
_mapping = click.option("--mapping", "mapping_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help="Mapping file (default: server/integrations/dhis2/mappings/<COUNTRY>.json).")


def _values(country: str, periods: tuple[str, ...],
            mapping_path: Path | None) -> tuple[mapping.Mapping, list[payload.DataValue]]:
    try:
        country_map = mapping.load(country.upper(), mapping_path)
        return country_map, payload.data_values(db.session, country_map, periods)
    except mapping.MappingError as error:
        raise click.ClickException(str(error)) from None


def register(app: Flask) -> None:
    group = AppGroup("dhis2", help="Report monthly numbers to DHIS2 (dataValueSets JSON or ADX).")

    @group.command("export")
    @_country
    @_period
    @click.option("--format", "output", type=click.Choice(["json", "adx"]), default="json", show_default=True)
    @_mapping
    def export_command(country: str, periods: tuple[str, ...], output: str, mapping_path: Path | None) -> None:
        """Write the DHIS2 payload of these months to stdout."""
        country_map, values = _values(country, periods, mapping_path)
        try:
            body = (payload.to_json(country_map, values) if output == "json"
                    else payload.to_adx(country_map, values, exported=datetime.now(UTC)))
        except mapping.MappingError as error:
            raise click.ClickException(str(error)) from None
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.flush()
        click.echo(f"{len(values)} data values, mapping {country_map.country} v{country_map.version}", err=True)

    @group.command("push")
    @_country
    @_period
    @click.option("--dry-run", is_flag=True, help="DHIS2 validates the payload and saves nothing.")
    @_mapping
    def push_command(country: str, periods: tuple[str, ...], dry_run: bool, mapping_path: Path | None) -> None:
        """Post these months to DHIS2 and report its ImportSummary; exit 1 on ERROR."""
        try:
            settings = client.settings_from_environment()
        except client.Dhis2ConfigError as error:
            raise click.ClickException(str(error)) from None
        country_map, values = _values(country, periods, mapping_path)
        body = payload.to_json(country_map, values)
        click.echo(f"posting {len(values)} data values ({len(body)} bytes; mapping {country_map.country} "
                   f"v{country_map.version}; periods {', '.join(sorted(set(periods)))})"
                   + (" as a dry run" if dry_run else ""))
        summary = client.post_data_values(settings, body, id_scheme=country_map.id_scheme, dry_run=dry_run)
        click.echo(summary.report())
        if summary.failed:
            raise SystemExit(1)

    app.cli.add_command(group)
