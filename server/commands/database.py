"""Database commands: migrations and demo data."""

from __future__ import annotations

import click
from flask import Flask, current_app

from server.extensions import db
from server.operations.seed import database_is_empty, seed_demo
from server.persistence.migrations_state import alembic_config


def upgrade_database() -> None:
    from alembic import command  # here: alembic costs every process ~0.35 s to import, and only this uses it

    command.upgrade(alembic_config(str(current_app.config["SQLALCHEMY_DATABASE_URI"])), "head")


def register(app: Flask) -> None:
    @app.cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Apply every Alembic migration (the only way the schema changes)."""
        upgrade_database()
        click.echo("database is at the latest migration")

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Load the Libya programme's reference data (idempotent)."""
        changes = seed_demo(db.session)
        db.session.commit()
        click.echo(f"demo reference data loaded ({changes} rows created or changed)")

    @app.cli.command("bootstrap")
    def bootstrap() -> None:
        """Migrate, then load the demo data if the database is empty (used by `make run`)."""
        upgrade_database()
        if database_is_empty(db.session):
            changes = seed_demo(db.session)
            db.session.commit()
            click.echo(f"empty database: demo reference data loaded ({changes} rows)")
        else:
            click.echo("database already has data: demo data not loaded")
