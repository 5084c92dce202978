"""What an admin types at the CLI: arguments that are not UTF-8 (every command, through
server/commands/cli.py's one guard) and reference ids, codes and names (server/commands/params.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Area, Item, Service, Site, Team, User

# Undecodable argv bytes, as a shell passes $'\xff' (Python hands them over as lone surrogates).
BAD = [b"ly-\xff", b"caf\xe9", b"\xed\xa0\x80"]  # a stray byte, Latin-1, an encoded surrogate
COMMANDS: list[list[bytes]] = [
    [b"create-user", b"%s", b"--role", b"admin", b"--password-stdin"],
    [b"create-user", b"someone", b"--role", b"coordinator", b"--country", b"%s", b"--password-stdin"],
    [b"reference", b"add-area", b"%s", b"--country", b"LY", b"--name", b"x"],
    [b"reference", b"add-area", b"ly-new", b"--country", b"LY", b"--name", b"%s"],
    [b"reference", b"add-site", b"ly-s", b"--area", b"%s", b"--name", b"x", b"--type", b"mobile_point"],
    [b"reference", b"update-team", b"ly-mmt-tripoli", b"--site", b"ly-mp-tripoli", b"--site", b"%s"],
    [b"reference", b"add-service", b"%s", b"--name", b"x"],
    [b"reference", b"delete", b"site", b"%s"],
    [b"rollups", b"verify", b"--country", b"%s"],
]


def flask_cli(database_url: str, args: list[bytes], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable.encode(), b"-m", b"flask", b"--app", b"server", *args], cwd=root, env=env,
                          input=stdin, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def cli_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.conftest import seeded_app

    url = f"sqlite:///{tmp_path_factory.mktemp('cli')}/cli.db"
    seeded_app(url)
    return url


def count_rows(database_url: str) -> list[int]:
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as connection:
        counts = [connection.scalar(select(func.count()).select_from(model))
                  for model in (User, Area, Site, Team, Item, Service)]
    engine.dispose()
    return counts


# Each command with one kind of bad bytes, the kinds taken in turn: every kind reaches several commands,
# and each case costs a real `flask` process (about 3 s), so the whole product would cost a minute more.
CASES = [(command, BAD[index % len(BAD)]) for index, command in enumerate(COMMANDS)]


@pytest.mark.parametrize(("command", "bad"), CASES, ids=[b" ".join(c[:2]).decode() for c, _ in CASES])
def test_an_argument_that_is_not_utf8_is_a_clear_error_on_every_command(cli_database: str, command: list[bytes],
                                                                        bad: bytes) -> None:
    before = count_rows(cli_database)
    args = [bad if arg == b"%s" else arg for arg in command]
    result = flask_cli(cli_database, args, stdin=b"a long enough passphrase\n")
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert b"Traceback" not in result.stderr and b"not valid UTF-8" in result.stderr, result.stderr
    assert repr(bad).encode() in result.stderr  # the bytes typed, shown as bytes
    assert count_rows(cli_database) == before


def test_a_password_line_that_is_not_utf8_is_a_clear_error(cli_database: str) -> None:
    before = count_rows(cli_database)
    result = flask_cli(cli_database, [b"create-user", b"stdin-user", b"--role", b"admin", b"--password-stdin"],
                       stdin=b"pass\xffword long enough\n")
    assert result.returncode == 1 and b"Traceback" not in result.stderr, result.stderr
    assert b"not valid UTF-8" in result.stderr
    assert count_rows(cli_database) == before


def test_every_registered_command_is_guarded(app: Flask) -> None:
    import click

    def walk(command: click.Command) -> list[click.Command]:
        subs = list(command.commands.values()) if isinstance(command, click.Group) else []
        return [command, *(c for sub in subs for c in walk(sub))]

    commands = [c for c in walk(app.cli) if c is not app.cli]
    assert len(commands) >= 15
    assert all(getattr(c, "_fieldsync_utf8_checked", False) for c in commands)


# --- reference ids, codes and names ------------------------------------------------------------

def reference_cli(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["reference", *args])


REFUSED = [
    (["add-area", "Ly-Upper", "--country", "LY", "--name", "x"], "not a valid id"),
    (["add-area", "ly x", "--country", "LY", "--name", "x"], "not a valid id"),
    (["add-area", "ly/x", "--country", "LY", "--name", "x"], "not a valid id"),
    (["add-area", "_ly", "--country", "LY", "--name", "x"], "not a valid id"),
    (["add-area", "ly-" + "a" * 62, "--country", "LY", "--name", "x"], "not a valid id"),
    (["add-area", "ly-é", "--country", "LY", "--name", "x"], "not a valid id"),
    (["add-area", "ly-n", "--country", "LYB", "--name", "x"], "not a valid country code"),
    (["add-area", "ly-n", "--country", "L1", "--name", "x"], "not a valid country code"),
    (["add-area", "ly-n", "--country", "LY", "--name", "   "], "must not be blank"),
    (["add-area", "ly-n", "--country", "LY", "--name", "x" * 101], "at most 100 characters"),
    (["add-area", "ly-n", "--country", "LY", "--name", "a\tb"], "control"),
    (["add-area", "ly-n", "--country", "LY", "--name", "x", "--pcode", "LY 01"], "not a valid P-code"),
    (["add-area", "ly-n", "--country", "LY", "--name", "x", "--pcode", "LY" + "0" * 19], "not a valid P-code"),
    (["update-area", "ly-tripoli", "--name", "x\u202ey"], "control"),
    (["add-site", "ly-s", "--area", "ly-tripoli", "--name", "x" * 151, "--type", "mobile_point"], "at most 150"),
    (["add-site", "LY-S", "--area", "ly-tripoli", "--name", "x", "--type", "mobile_point"], "not a valid id"),
    (["add-site", "ly-s", "--area", "ly tripoli", "--name", "x", "--type", "mobile_point"], "not a valid id"),
    (["add-team", "ly-t", "--country", "LY", "--name", "", "--type", "chw"], "must not be blank"),
    (["add-team", "ly-t", "--country", "LY", "--name", "x", "--type", "chw", "--site", "a b"], "not a valid id"),
    (["update-team", "ly-mmt-tripoli", "--name", "\x00"], "control"),
    (["add-item", "Soap!", "--name", "Soap", "--category", "nfi"], "not a valid id"),
    (["add-item", "soap", "--name", "x" * 151, "--category", "nfi"], "at most 150"),
    (["add-service", "a" * 65, "--name", "x"], "not a valid id"),
    (["update-service", "general", "--name", " "], "must not be blank"),
]


@pytest.mark.parametrize(("args", "message"), REFUSED, ids=[" ".join(a[:2])[:40] for a, _ in REFUSED])
def test_reference_ids_codes_and_names_are_validated(app: Flask, session: Session, args: list[str],
                                                     message: str) -> None:
    before = [session.scalar(select(func.count()).select_from(m)) for m in (Area, Site, Team, Item, Service)]
    names = sorted(session.scalars(select(Area.name)))
    result = reference_cli(app, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert [session.scalar(select(func.count()).select_from(m)) for m in (Area, Site, Team, Item, Service)] == before
    assert sorted(session.scalars(select(Area.name))) == names


def test_valid_ids_codes_and_names_are_accepted_and_normalised(app: Flask, session: Session) -> None:
    result = reference_cli(app, "add-area", "ly-sirte_2", "--country", "ly", "--name", "  Sirte — سرت  ",
                           "--pcode", "ly13")
    assert result.exit_code == 0, result.output
    area = session.get(Area, "ly-sirte_2")
    assert (area.country_code, area.name, area.pcode) == ("LY", "Sirte — سرت", "LY13")
    assert reference_cli(app, "add-service", "a" * 64, "--name", "x" * 150).exit_code == 0
