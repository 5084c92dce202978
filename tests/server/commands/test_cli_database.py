"""A CLI command pointed at a database that is new (no tables) or cannot be opened says what to do,
with exit status 1, instead of a driver's traceback (server/commands/cli.py)."""

from __future__ import annotations

import pytest
from click.testing import Result

from server.extensions import db
from tests.conftest import ENGINES, build_app
from tests.pg_cluster import free_port

# Commands an operator runs first on a new deployment; each reads the database at once.
COMMANDS = [["users", "list"], ["rollups", "verify"], ["quarantine", "purge"]]


def run_cli(database_url: str, command: list[str]) -> Result:
    app = build_app(database_url)
    try:
        return app.test_cli_runner().invoke(args=command)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_without_tables_is_a_clear_error(make_database_url, engine: str, command: list[str]) -> None:
    result = run_cli(make_database_url(engine), command)  # a database created, never migrated

    assert result.exit_code == 1, result.output
    assert "not migrated" in result.output and "db-upgrade" in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception escaping the command


@pytest.mark.parametrize("engine", ENGINES)
def test_a_database_that_cannot_be_opened_is_a_clear_error(tmp_path, engine: str) -> None:
    (tmp_path / "data").mkdir()
    url = {
        "sqlite": f"sqlite:///{tmp_path}/data",  # a directory, as a mistyped path may name
        "postgresql": f"postgresql+psycopg://fieldsync@127.0.0.1:{free_port()}/fieldsync",  # nothing listens
    }[engine]

    result = run_cli(url, ["users", "list"])

    assert result.exit_code == 1
    assert "Cannot open the database" in result.output
    assert isinstance(result.exception, SystemExit)
