"""Alembic wiring shared by the CLI, `/readyz` and the tests."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from alembic.config import Config

# alembic is imported inside the functions: the app imports this module for `/readyz`, and alembic
# costs every process that starts (each gunicorn worker, each CLI command) ~0.35 s before any use.

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    from alembic.config import Config

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
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def pending_migrations(connection: Connection) -> bool:
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    return current != code_head()
