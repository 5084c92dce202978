"""`flask --app server rollups verify|rebuild`: check or rebuild the aggregate rollups."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from server.aggregation import verify as rollup_verify
from server.extensions import db


def register(app: Flask) -> None:
    group = AppGroup("rollups", help="Check or rebuild the aggregate rollups from the raw records.")

    @group.command("verify")
    def verify_command() -> None:
        """Recompute every rollup from the records; print each difference, exit 1 if any."""
        with _progress(db.session, "verifying") as step:
            differences = rollup_verify.verify(db.session, progress=step)
        for difference in differences:
            click.echo(str(difference))
        if differences:
            click.echo(f"{len(differences)} difference(s) between the rollups and the records", err=True)
            raise SystemExit(1)
        click.echo("rollups match the records")

    @group.command("rebuild")
    def rebuild_command() -> None:
        """Replace every rollup by a recount from the records, in one transaction."""
        with _progress(db.session, "rebuilding") as step:
            fresh = rollup_verify.rebuild(db.session, progress=step)
        db.session.commit()
        click.echo(f"rollups rebuilt: {fresh.cells} cells, {fresh.facts} person facts, {fresh.firsts} person firsts")

    app.cli.add_command(group)


@contextmanager
def _progress(session: Session, label: str) -> Iterator[Callable[[str], None]]:
    """A month-by-month progress bar on a terminal (stderr, so the output stays parseable), then one
    step per distinct indicator."""
    total = rollup_verify.steps(session)
    with click.progressbar(length=total, label=f"{label} {total} step(s)", file=sys.stderr,
                           item_show_func=lambda month: month) as bar:
        yield lambda month: bar.update(1, month)
