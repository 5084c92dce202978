"""The application factory: it only wires configuration, extensions, blueprints and hooks."""

from __future__ import annotations

from flask import Flask

import config as fieldsync_config
from server.extensions import api, db, install_sqlite_hooks
from server.persistence import read_replica
from server.web import (
    auth,
    compression,
    errors,
    http_body,
    i18n,
    metrics,
    redaction,
    request_log,
    security_headers,
    transactions,
)


def create_app(overrides: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False, static_folder=None)
    app.config.update(fieldsync_config.load_config())
    if overrides:
        app.config.update(overrides)
    configure_database(app)
    configure_api(app)
    # First: their before_request hooks run before authentication, so refused requests are timed and
    # logged too; their after_request hooks run last, on the final response.
    metrics.init_app(app)
    request_log.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    http_body.init_app(app)  # after auth: nothing is decompressed for an anonymous client
    compression.init_app(app)  # before transactions: its hook then runs after the commit
    transactions.init_app(app)
    security_headers.init_app(app)
    i18n.init_app(app)
    configure_subscribers(app)
    configure_cli(app)
    auth.check_declarations(app)
    # Last, once every logger the app writes to exists: each line is redacted (server/web/redaction.py).
    app.logger  # noqa: B018 (creating Flask's logger, and its default handler, before protecting it)
    redaction.protect_all()
    return app


def configure_database(app: Flask) -> None:
    uri = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        install_sqlite_hooks(db.engine)
    read_replica.init_app(app)


def configure_api(app: Flask) -> None:
    from server import dashboard
    from server.api import register_blueprints

    api.init_app(app)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(dashboard.root)
    register_blueprints(app, api)
    auth.mark_public(app, ["api-docs.openapi_json", "api-docs.openapi_docs"])


def configure_subscribers(app: Flask) -> None:
    """Who hears the unit of work's record changes (server/persistence/events.py), and the write
    envelope's hook into the body reader."""
    from server.aggregation import rollups
    from server.intake import envelope
    from server.integrations import webhooks

    rollups.init_app(app)
    envelope.init_app(app)
    webhooks.init_app(app)


def configure_cli(app: Flask) -> None:
    from server.commands.cli import register_commands

    register_commands(app)
