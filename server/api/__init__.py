"""HTTP blueprints. Only the app factory (and tests) import this package."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def register_blueprints(app: Flask, api: Api) -> None:
    from server.api import (
        accounts,
        admin,
        aggregates,
        collect_devices,
        docs,
        health,
        metrics,
        public,
        records,
        resolution,
        review,
        sync_pull,
        sync_push,
        webhooks,
    )
    from server.integrations.openrosa import views as openrosa

    api.register_blueprint(health.blp)
    api.register_blueprint(aggregates.blp)
    api.register_blueprint(public.blp)
    api.register_blueprint(accounts.blp)
    api.register_blueprint(admin.blp)
    api.register_blueprint(sync_pull.blp)
    api.register_blueprint(sync_push.blp)
    api.register_blueprint(review.blp)
    api.register_blueprint(resolution.blp)
    api.register_blueprint(records.blp)
    api.register_blueprint(metrics.blp)
    api.register_blueprint(collect_devices.blp)
    api.register_blueprint(webhooks.blp)
    app.register_blueprint(openrosa.bp)
    app.register_blueprint(docs.bp)
    from server.api.openapi_security import document_security

    document_security(app, api)
