"""Alembic wiring shared by the CLI, `/readyz` and the tests."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        # ConfigParser interpolation would choke on a `%` in a password.
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


@functools.cache
def code_head() -> str | None:
    """The newest migration this code ships. Read once per process: the migrations cannot change
    under a running process, and scanning the script directory cost 22 ms per `/readyz`."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def pending_migrations(connection: Connection) -> bool:
    current = MigrationContext.configure(connection).get_current_revision()
    return current != code_head()
