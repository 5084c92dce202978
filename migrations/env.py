"""Alembic environment: SQLite in batch mode, PostgreSQL as is; metadata from server.models."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import config as fieldsync_config
import server.models  # noqa: F401  (registers every table on db.metadata)
from server.extensions import db

alembic_cfg = context.config
if alembic_cfg.config_file_name is not None and alembic_cfg.attributes.get("configure_logging", True):
    fileConfig(alembic_cfg.config_file_name, disable_existing_loggers=False)

target_metadata = db.metadata


def database_url() -> str:
    url = alembic_cfg.get_main_option("sqlalchemy.url")
    return url or str(fieldsync_config.load_config()["SQLALCHEMY_DATABASE_URI"])


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = alembic_cfg.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
