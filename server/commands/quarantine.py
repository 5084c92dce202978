"""`flask --app server quarantine purge`: enforce quarantine's retention period (server/intake/quarantine.py)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from server.extensions import db
from server.intake import quarantine
from server.persistence.timeutil import utcnow


def register(app: Flask) -> None:
    group = AppGroup("quarantine", help="Quarantined mutations: retention.")

    @group.command("purge")
    @click.option("--older-than-days", type=click.IntRange(min=0), default=None,
                  help="Retention in days (default: QUARANTINE_RETENTION_DAYS, 90).")
    def purge_command(older_than_days: int | None) -> None:
        """Delete quarantined mutations received before the retention period, open or resolved,
        and redact unknown fields of resolved ones. Idempotent; run it daily (cron, systemd timer)."""
        days = older_than_days if older_than_days is not None else int(current_app.config["QUARANTINE_RETENTION_DAYS"])
        purged = quarantine.purge(db.session, retention_days=days, now=utcnow())
        db.session.commit()
        click.echo(f"quarantine: {purged.deleted} item(s) older than {days} days deleted, "
                   f"{purged.redacted} resolved item(s) redacted")

    app.cli.add_command(group)
