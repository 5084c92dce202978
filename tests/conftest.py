"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

Each engine's database is migrated with Alembic (never create_all) and seeded with the demo
reference data once per session; each test then runs inside a transaction that is rolled back
(the session joins it with SAVEPOINTs), so tests see a clean, realistic database and are fast.
TEST_DATABASE_URL names a PostgreSQL server to use; otherwise a throwaway cluster is started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session, scoped_session, sessionmaker

import config as fieldsync_config
from server import create_app
from server.extensions import db
from server.operations.seed import seed_demo
from server.persistence.migrations_state import alembic_config
from tests.factories import EnrolledDevice, make_device
from tests.pg_cluster import Cluster, start_cluster

ENGINES = ["sqlite", "postgresql"]

# Generated tests judge behaviour, never speed: on a 2-core CI machine running two test processes and
# gunicorn, generation and examples can be slow without anything being wrong. A test's own @settings
# still overrides these.
settings.register_profile(
    "fieldsync", deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.load_profile("fieldsync")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at its cheapest parameters for in-process tests: production's (64 MiB, 3 passes, 4
    lanes) take ~0.2 s of two cores per hash or check, and the suite makes hundreds of users and
    logins. Verifying reads the parameters from the hash, so behaviour is unchanged. Subprocesses
    (gunicorn, the CLI) keep production's, which test_users_cli checks on a hash the CLI wrote."""
    from argon2 import PasswordHasher, profiles

    from server.operations import passwords

    production = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    passwords._dummy_hash.cache_clear()
    yield
    passwords._hasher = production
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster | None]:
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def make_database_url(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Cluster | None):
    """A factory for fresh, empty databases of either engine (for tests that need their own)."""
    counter = iter(range(1_000_000))

    def make(engine: str) -> str:
        index = next(counter)
        if engine == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db')}/fieldsync-{index}.db"
        if pg_cluster is None:
            if index:
                pytest.skip("TEST_DATABASE_URL gives one PostgreSQL database only")
            return fieldsync_config.normalise_database_url(os.environ["TEST_DATABASE_URL"])
        return pg_cluster.create_database(f"fieldsync_test_{index}")

    return make


def migrate(database_url: str) -> None:
    cfg = alembic_config(database_url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")


def build_app(database_url: str, **overrides: object) -> Flask:
    settings: dict[str, object] = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": fieldsync_config.engine_options(database_url),
        "SECRET_KEY": "test-secret-key",
    }
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(scope="session")
def migrated_apps(make_database_url) -> Iterator[dict[str, Flask]]:
    """One app per engine on a migrated, demo-seeded database, built lazily."""
    apps = _LazyApps(make_database_url)
    yield apps
    for flask_app in apps.values():
        with flask_app.app_context():
            db.engine.dispose()


class _LazyApps(dict):
    def __init__(self, make_database_url) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self._make = make_database_url

    def __missing__(self, engine: str) -> Flask:
        app = seeded_app(self._make(engine))
        self[engine] = app
        return app


def seeded_app(database_url: str) -> Flask:
    """An app on this database, migrated and loaded with the demo reference data (committed)."""
    migrate(database_url)
    app = build_app(database_url)
    with app.app_context():
        seed_demo(db.session)
        db.session.commit()
        db.session.remove()
    return app


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(migrated_apps: dict[str, Flask], engine_name: str) -> Iterator[Flask]:
    """The app for this engine, with every database change of the test rolled back after it."""
    flask_app = migrated_apps[engine_name]
    with flask_app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original_session = db.session
        db.session = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
        try:
            yield flask_app
        finally:
            db.session.remove()
            db.session = original_session
            outer.rollback()
            connection.close()


@pytest.fixture
def committed_app(make_database_url, engine_name: str) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    """An app on a database of its own where requests really commit: for races between connections."""
    flask_app = seeded_app(make_database_url(engine_name))
    yield flask_app
    with flask_app.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Session:
    return db.session()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def device(session: Session) -> EnrolledDevice:
    """An enrolled tablet of the demo Tripoli team, committed (to the test's savepoint): a request
    answered with an error rolls back what is pending, and the device must survive it."""
    enrolled = make_device(session)
    session.commit()
    return enrolled


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
