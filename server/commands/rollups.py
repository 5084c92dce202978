"""`flask --app server rollups verify|rebuild`: check or rebuild the aggregate rollups."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from server.aggregation import verify as rollup_verify
from server.extensions import db


def register(app: Flask) -> None:
    group = AppGroup("rollups", help="Check or rebuild the aggregate rollups from the raw records.")

    @group.command("verify")
    def verify_command() -> None:
        """Recompute every rollup from the records; print each difference, exit 1 if any."""
        differences = rollup_verify.verify(db.session)
        for difference in differences:
            click.echo(str(difference))
        if differences:
            click.echo(f"{len(differences)} difference(s) between the rollups and the records", err=True)
            raise SystemExit(1)
        click.echo("rollups match the records")

    @group.command("rebuild")
    def rebuild_command() -> None:
        """Replace every rollup by a recount from the records, in one transaction."""
        fresh = rollup_verify.rebuild(db.session)
        db.session.commit()
        click.echo(f"rollups rebuilt: {len(fresh.cells)} cells, {len(fresh.facts)} person facts")

    app.cli.add_command(group)
